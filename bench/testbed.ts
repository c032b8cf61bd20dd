// Benchmark: how long the local testbed takes to come up (prerequisites already present) and to go
// down. Goals: up < 10 s, down < 5 s. Uses the test prefix p4tb- on its own subnet and state dir,
// so it never touches a real p4cf- testbed. Root only.
//   npx tsx bench/testbed.ts [--cycles N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config/load.ts';
import { testbedDown, testbedUp } from '../lib/modes/local/testbed.ts';

const GOAL_UP_MS = 10_000;
const GOAL_DOWN_MS = 5_000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

export async function benchTestbed(
  cycles = 3,
): Promise<{ upColdMs: number; upWarmMs: number[]; upRepairMs: number[]; downMs: number[] }> {
  if (process.getuid?.() !== 0) throw new Error('bench/testbed.ts needs root (network namespaces, sshd)');
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > 20) throw new Error(`--cycles ${cycles}: expected an integer 1-20`);
  const dir = mkdtempSync(join(tmpdir(), 'p4tb-bench-'));
  const { config } = loadConfig({
    cwd: dir,
    env: {
      TESTBED_PREFIX: 'p4tb-',
      MGMT_SUBNET: '10.198.5.0/24',
      TOFINO_SSH: 'root@10.198.5.2:22',
      LAKEWOOD_SSH: 'root@10.198.5.3:22',
      LOVELAND_SSH: 'root@10.198.5.4:22',
      SSH_KEY: join(dir, 'ssh/id_ed25519'),
      SSH_KNOWN_HOSTS: join(dir, 'ssh/known_hosts'),
      LAKEWOOD_NIC: 'p4tb-nic',
      LOVELAND_NIC: 'p4tb-nic',
      LAKEWOOD_DIRECT_IF: 'p4tb-direct',
      LOVELAND_DIRECT_IF: 'p4tb-direct',
    },
  });
  const opts = { projectDir: dir, stateDir: join(dir, 'state'), log: () => {} };
  const upWarmMs: number[] = [];
  const upRepairMs: number[] = [];
  const downMs: number[] = [];
  let upColdMs = 0;
  try {
    for (let i = 0; i < cycles; i++) {
      let t = performance.now();
      await testbedUp(config, opts);
      const up = performance.now() - t;
      if (i === 0) upColdMs = up;
      else upWarmMs.push(up); // the first run also generates the SSH keys
      t = performance.now();
      await testbedUp(config, { ...opts, prerequisites: false });
      upRepairMs.push(performance.now() - t);
      t = performance.now();
      await testbedDown(config, opts);
      downMs.push(performance.now() - t);
    }
  } finally {
    // a failed clean-up leaves p4tb- namespaces that make the next bench or test refuse to start: say so
    await testbedDown(config, opts).catch((e: Error) =>
      console.warn(`bench/testbed.ts: clean-up failed; p4tb-* namespaces, links or sshd may be left: ${e.message}`),
    );
    rmSync(dir, { recursive: true, force: true });
  }
  return { upColdMs, upWarmMs, upRepairMs, downMs };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--cycles');
  const cycles = i > 0 ? Number(process.argv[i + 1]) : 3;
  const r = await benchTestbed(cycles);
  const line = (label: string, ms: number, goal: number): string =>
    `${label.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(6)} s   ${(ms / goal).toFixed(3)} of the ${goal / 1000} s goal`;
  console.log(
    `testbed benchmark, ${cycles} cycles (baseline: the goals up < ${GOAL_UP_MS / 1000} s, down < ${GOAL_DOWN_MS / 1000} s)`,
  );
  console.log(line('up, fresh state (keys generated)', r.upColdMs, GOAL_UP_MS));
  if (r.upWarmMs.length) console.log(line(`up, keys present (median of ${r.upWarmMs.length})`, median(r.upWarmMs), GOAL_UP_MS));
  console.log(line(`up on a complete testbed (median of ${r.upRepairMs.length})`, median(r.upRepairMs), GOAL_UP_MS));
  console.log(line(`down (median of ${r.downMs.length})`, median(r.downMs), GOAL_DOWN_MS));
}
