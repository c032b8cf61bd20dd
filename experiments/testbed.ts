// The local testbed by hand: `npx tsx experiments/testbed.ts up|down|status [--config FILE] [--set KEY=VALUE]`.
//   up      install prerequisites, then create or repair namespaces, links, bridge and sshd (stays up)
//           --emulate-hw: dressed as the lab (non-root sudo user, emulated SDE); writes .testbed/config_hw.env
//   down    remove everything `up` created (and podman containers/networks named with the prefix)
//   status  print each host, link and daemon with its state; exit 1 unless everything is healthy
// Configuration comes from lib/config/load.ts (config.env, environment, --set), e.g. TESTBED_PREFIX, MGMT_SUBNET.
import { relative } from 'node:path';
import { loadConfig } from '../lib/config/load.ts';
import { CONFIG_OPTIONS, configArgv } from '../lib/config/sources.ts';
import { formatStatus, testbedDown, testbedStatus, testbedUp } from '../lib/modes/local/testbed.ts';
import { cliArgs } from '../lib/run/cli.ts';

const {
  values,
  args: [cmd],
  given,
} = cliArgs({
  command: 'npx tsx experiments/testbed.ts',
  summary: 'The local testbed by hand: up (prerequisites, then namespaces, links, bridge, sshd), down, or status.',
  args: { name: 'COMMAND', what: 'command', min: 1, choices: ['up', 'down', 'status'] },
  options: {
    'no-prereqs': { type: 'boolean', help: 'up: do not check/install the machine prerequisites first' },
    'emulate-hw': {
      type: 'boolean',
      help: 'up: dress the testbed as the lab (non-root sudo user, emulated SDE) and write .testbed/config_hw.env',
    },
    ...CONFIG_OPTIONS,
  },
});
const prerequisites = !values['no-prereqs'];
const emulateHw = values['emulate-hw'];
if (emulateHw && cmd !== 'up') {
  console.error('--emulate-hw goes with up (down removes the emulation too)');
  process.exit(2);
}

try {
  const { config, projectDir } = loadConfig({ argv: configArgv(given) });
  if (config.TESTBED !== 'local')
    console.warn(`[testbed] note: TESTBED=${config.TESTBED}; the local testbed is only used when TESTBED=local`);
  if (cmd === 'up') {
    const up = await testbedUp(config, { projectDir, prerequisites, emulateHw });
    console.log(formatStatus(await testbedStatus(config, { projectDir })));
    if (up.overlay)
      console.log(
        `hardware overlay for the emulated lab: ${up.overlay}\nnext: npx tsx experiments/run.ts --config ${relative(process.cwd(), up.overlay)}`,
      );
  } else if (cmd === 'down') {
    await testbedDown(config, { projectDir });
  } else {
    const s = await testbedStatus(config, { projectDir });
    console.log(formatStatus(s));
    process.exitCode = s.ok ? 0 : 1;
  }
} catch (e) {
  const err = e as Error;
  console.error(
    ['ConfigError', 'TestbedError', 'PrereqError', 'CommandError'].includes(err.name)
      ? `${err.name}: ${err.message}`
      : (err.stack ?? String(e)),
  );
  process.exit(1);
}
