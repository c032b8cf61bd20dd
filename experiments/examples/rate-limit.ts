// Example: the standard experiment with one extra step after `build` — the servers' switch-facing
// NICs rate-limited to 1 Gbit/s with a tc token bucket, and the limit removed again at the end of
// the run (also after a failure or Ctrl-C). The qdisc each NIC had is kept in the run folder.
//
//   npx tsx experiments/examples/rate-limit.ts --migrations 2      (any flag of experiments/run.ts)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { insertAfter, onServer, phases, runPhases, serverNode, type Phase } from '../lib.ts';

const RATE = '1gbit';

const rateLimit: Phase = {
  name: 'rate-limit',
  description: `limit each server's switch NIC to ${RATE} (tc tbf); removed at the end of the run`,
  hosts: (ctx) => [...ctx.config.SERVERS],
  reads: [],
  writes: [],
  async run(ctx) {
    for (const server of ctx.config.SERVERS) {
      const { nic } = serverNode(ctx.config, server);
      const before = await onServer(server)`tc qdisc show dev ${nic}`;
      if (!ctx.dryRun) writeFileSync(join(ctx.dir, `qdisc-${server}.txt`), before.stdout);
      await onServer(server)`tc qdisc replace dev ${nic} root tbf rate ${RATE} burst 64kb latency 50ms`;
      ctx.cleanup.add(`remove the ${RATE} limit on ${server} ${nic}`, async () => {
        await onServer(server)`tc qdisc del dev ${nic} root`.nothrow();
      });
      ctx.log.step('rate-limit', `${server} ${nic}: ${RATE}`);
    }
  },
};

process.exit(await runPhases(insertAfter(phases, 'build', rateLimit)));
