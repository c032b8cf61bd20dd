// Phase `testbed`: bring the local testbed up (or repair it) before anything talks to the hosts.
import type { Phase } from '../../lib/run/phases.ts';
import { TESTBED_HOSTS, testbedUp } from '../../lib/modes/local/testbed.ts';

export const phase: Phase = {
  name: 'testbed',
  description:
    'Local testbed only: install missing prerequisites, then create or repair the namespaces, links, management ' +
    'bridge and sshd of tofino/lakewood/loveland. It is NOT torn down at the end of a run (reused by the next ' +
    'run); `npx tsx experiments/testbed.ts down` removes it.',
  hosts: () => ['local'],
  reads: [],
  writes: [],
  when: (ctx) => ctx.config.TESTBED === 'local',
  async run(ctx) {
    if (ctx.dryRun) {
      ctx.log.info(`[dry-run] would bring up the local testbed ${ctx.config.TESTBED_PREFIX}{${TESTBED_HOSTS.join(',')}}`);
      return;
    }
    await testbedUp(ctx.config, { projectDir: ctx.projectDir, log: (m) => ctx.log.step('testbed', m) });
  },
};
