// The local testbed by hand: `npx tsx experiments/testbed.ts up|down|status [--config FILE] [--set KEY=VALUE]`.
//   up      install prerequisites, then create or repair namespaces, links, bridge and sshd (stays up)
//           --emulate-hw: dressed as the lab (non-root sudo user, emulated SDE); writes .testbed/config_hw.env
//   down    remove everything `up` created (and podman containers/networks named with the prefix)
//   status  print each host, link and daemon with its state; exit 1 unless everything is healthy
// Configuration comes from lib/config/load.ts (config.env, environment, --set), e.g. TESTBED_PREFIX, MGMT_SUBNET.
import { relative } from 'node:path';
import { loadConfig } from '../lib/config/load.ts';
import { formatStatus, testbedDown, testbedStatus, testbedUp } from '../lib/modes/local/testbed.ts';

const usage = 'usage: npx tsx experiments/testbed.ts up|down|status [--no-prereqs] [--emulate-hw] [--config FILE] [--set KEY=VALUE ...]';
const [cmd, ...rest] = process.argv.slice(2);
if (!cmd || cmd === '--help' || cmd === '-h') { console.log(usage); process.exit(cmd ? 0 : 2); }
if (!['up', 'down', 'status'].includes(cmd)) { console.error(`unknown command ${JSON.stringify(cmd)}: expected up, down or status\n${usage}`); process.exit(2); }
const prerequisites = !rest.includes('--no-prereqs');
const emulateHw = rest.includes('--emulate-hw');
if (emulateHw && cmd !== 'up') { console.error(`--emulate-hw goes with up (down removes the emulation too)\n${usage}`); process.exit(2); }

try {
  const { config, projectDir } = loadConfig({ argv: rest.filter((a) => a !== '--no-prereqs' && a !== '--emulate-hw') });
  if (config.TESTBED !== 'local') console.warn(`[testbed] note: TESTBED=${config.TESTBED}; the local testbed is only used when TESTBED=local`);
  if (cmd === 'up') {
    const up = await testbedUp(config, { projectDir, prerequisites, emulateHw });
    console.log(formatStatus(await testbedStatus(config, { projectDir })));
    if (up.overlay) console.log(`hardware overlay for the emulated lab: ${up.overlay}\nnext: npx tsx experiments/run.ts --config ${relative(process.cwd(), up.overlay)}`);
  } else if (cmd === 'down') {
    await testbedDown(config, { projectDir });
  } else {
    const s = await testbedStatus(config, { projectDir });
    console.log(formatStatus(s));
    process.exitCode = s.ok ? 0 : 1;
  }
} catch (e) {
  const err = e as Error;
  console.error(['ConfigError', 'TestbedError', 'PrereqError', 'CommandError'].includes(err.name) ? `${err.name}: ${err.message}` : err.stack ?? String(e));
  process.exit(1);
}
