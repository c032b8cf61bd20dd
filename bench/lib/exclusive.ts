// (bench/lib/: helpers of the benchmarks; `npm run bench` runs only bench/*.ts.)
// Benchmarks that run real experiments need root and the machine-wide testbed lock, for the whole
// benchmark (its cases side by side under the same conditions): skip with a reason without root,
// else re-run this very script under flock unless already holding the lock.
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const LOCK = '/tmp/p4cf-testbed.lock';
const tsx = join(resolve(import.meta.dirname, '..', '..'), 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Returns only in the process that holds the lock (as root); otherwise exits with the child's status. */
export function asRootUnderTestbedLock(bench: string, needs: string): void {
  if (process.getuid?.() !== 0) {
    console.log(`${bench}: skipped, needs root (${needs})`);
    process.exit(0);
  }
  if (process.env.P4CF_BENCH_LOCKED === '1') return;
  const r = spawnSync('flock', [LOCK, process.execPath, tsx, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, P4CF_BENCH_LOCKED: '1' },
  });
  process.exit(r.status ?? 1);
}
