// Phase `testbed`: bring the local testbed up (or repair it) before anything talks to the hosts.
import type { Phase, RunContext } from '../../lib/run/phases.ts';
import { testbedHosts, testbedUp } from '../../lib/modes/local/testbed.ts';
import { applyCmds, describeEnd, linkEnds, NETEM_PROBE, removeCmd, shapedEnds } from '../../lib/modes/local/shaping.ts';

export const phase: Phase = {
  name: 'testbed',
  description:
    'Local testbed only: install missing prerequisites, then create or repair the namespaces, links, management ' +
    'bridge and sshd of tofino and each of SERVERS (a direct bridge for three or more). It is NOT torn down at the end of a run (reused by the next ' +
    'run); `npx tsx experiments/testbed.ts down` removes it.',
  hosts: () => ['local'],
  reads: [],
  writes: [],
  when: (ctx) => ctx.config.TESTBED === 'local',
  async run(ctx) {
    if (ctx.dryRun) {
      ctx.log.info(
        `[dry-run] would bring up the local testbed ${ctx.config.TESTBED_PREFIX}{${testbedHosts(ctx.config).join(',')}}`,
      );
      return;
    }
    await testbedUp(ctx.config, { projectDir: ctx.projectDir, log: (m) => ctx.log.step('testbed', m) });
    await shapeLinks(ctx);
  },
};

/** LINK_* / DIRECT_LINK_*: tbf, netem and nftables on the veth ends for this run, removed by its undo. */
async function shapeLinks(ctx: RunContext): Promise<void> {
  const { onLocal } = ctx;
  // a killed run's shaping would silently shape this one: clear every end first
  for (const e of linkEnds(ctx.config)) await onLocal.script(removeCmd(e));
  const ends = shapedEnds(ctx.config);
  if (ends.some((e) => e.shape.delay)) {
    const probe = await onLocal.script(NETEM_PROBE).nothrow();
    if (!probe.ok) {
      const keys = ['LINK_DELAY', 'DIRECT_LINK_DELAY']
        .filter((k) => ctx.config[k as 'LINK_DELAY'])
        .map((k) => `${k}=${ctx.config[k as 'LINK_DELAY']}`)
        .join(', ');
      throw new Error(
        `${keys}: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM is off: ${probe.stderr.trim() || `exit ${probe.exitCode}`}), so delay cannot be emulated here; ` +
          'unset the delay keys (rate and loss work without netem) or use a kernel with sch_netem',
      );
    }
  }
  for (const e of ends) {
    ctx.cleanup.add(`remove link emulation on ${e.label}`, async () => {
      await onLocal.script(removeCmd(e));
    });
    for (const cmd of applyCmds(e)) await onLocal.script(cmd);
    ctx.log.step('testbed', `link emulation: ${describeEnd(e)}`);
  }
  ctx.manifest?.setTestbed(
    'links',
    ends.map((e) => ({ end: e.label, iface: `${e.ns}/${e.ifname}`, ...e.shape })),
  );
}
