// Acceptance tests of the whole product on the real local testbed (p4cf-* namespaces, real
// sshd, switch model, controller, podman + CRIU, WebSocket load): a full run with three
// migrations, a run interrupted during `migrate`, and a forced restore failure.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTimingText } from '../experiments/analysis/load.ts';
import { TIMING_KEYS } from '../lib/migration/timing.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { runRunner, spawnRunner } from './helpers/runner.ts';
import { assertRunLeftNothing, runDirOf, useLocalTestbed } from './helpers/testbed-run.ts';

warnIfNotRoot('test/e2e.test.ts (full runs on the local testbed)');

const CONNECTIONS = 4; // LOADGEN_CONNECTIONS default

function csvRows(dir: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

const _sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '');
  }
};

describe.skipIf(!isRoot)('end to end on the local testbed', () => {
  // The runs bring the testbed up and leave it for reuse; a testbed this file brought up goes
  // down again, so the suite leaves the machine as it found it.
  useLocalTestbed();

  it('runs the full experiment with three migrations and loses nothing', async () => {
    const r = await runRunner(['--steady-state', '3', '--post-migration', '5', '--migrations', '3'], {}, 400_000);
    const dir = runDirOf(r.stdout);
    expect(r.code, `runner failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    for (const f of ['config.json', 'manifest.json', 'experiment.log', 'metrics.csv'])
      expect(existsSync(join(dir, f)), f).toBe(true);
    expect(existsSync(join(dir, 'error.log'))).toBe(false);

    const rows = csvRows(dir);
    const num = (r: Record<string, string>, k: string) => (r[k] === '' || r[k] === undefined ? NaN : Number(r[k]));
    let freezeMs = 0;
    for (let i = 1; i <= 3; i++) {
      const t = parseTimingText(readFileSync(join(dir, `migration_timing_${i}.txt`), 'utf8'));
      for (const k of TIMING_KEYS) expect(t[k], `migration ${i} lacks ${k}`).toBeDefined();
      expect(t.source_node).toBe(i % 2 ? 'lakewood' : 'loveland');
      expect(Number(t.time_to_ready_ms)).toBeLessThan(10_000);
      const json = JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')) as Record<string, unknown>;
      // CRIU read the migration's own settings on both ends (the container's org.criu.config annotation)
      expect({ dump: json.criu_config_dump, restore: json.criu_config_restore }, `migration ${i}`).toEqual({
        dump: 'parsed',
        restore: 'parsed',
      });
      freezeMs += Number(t.time_to_ready_ms);
      // within 5 s of the switch update: a row with every connection up and RTT below 50 ms
      const sw = Number(BigInt(t.switch_update_done_ns as string) / 1_000_000n);
      const ok = rows.find((row) => {
        const ts = num(row, 'timestamp_unix_milli');
        return (
          ts > sw &&
          ts <= sw + 5000 &&
          num(row, 'lg_connected_clients') === CONNECTIONS &&
          num(row, 'connected_clients') === CONNECTIONS &&
          num(row, 'ws_rtt_max_ms') < 50
        );
      });
      expect(ok, `no healthy metrics row within 5 s after migration ${i}'s switch update`).toBeDefined();
    }
    const last = rows[rows.length - 1];
    const drops = rows.map((r) => num(r, 'connection_drops')).filter((x) => !Number.isNaN(x));
    expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
    expect(num(last, 'frames_lost'), 'frames lost').toBe(0);
    // pings go out every 100 ms per connection; only those sent while the server was frozen may lack a pong
    const allowed = Math.ceil(freezeMs / 100 + 3 * 2) * CONNECTIONS;
    expect(num(last, 'pings_unanswered')).toBeLessThanOrEqual(allowed);
    expect(rows.filter((r) => r.migration_event === '1').length).toBe(3);
    assertRunLeftNothing(dir, { testbedOnly: true, recorded: true });
  }, 420_000);

  it('cleans up and writes error.log when interrupted during migrate', async () => {
    const s = spawnRunner(['--steady-state', '1', '--post-migration', '3', '--migrations', '3']);
    const killer = setTimeout(() => s.child.kill('SIGKILL'), 300_000);
    await s.waitFor('=== migrate', 240_000);
    await s.waitFor('start (transfer via', 60_000);
    await new Promise((r) => setTimeout(r, 300)); // inside the checkpoint of migration 1
    s.child.kill('SIGINT');
    const code = await s.exit;
    clearTimeout(killer);
    const dir = runDirOf(s.stdout());
    expect(code).not.toBe(0);
    expect(existsSync(join(dir, 'error.log')), `no error.log in ${dir}`).toBe(true);
    expect(readFileSync(join(dir, 'error.log'), 'utf8')).toMatch(/migrate/);
    assertRunLeftNothing(dir, { testbedOnly: true, recorded: true });
  }, 320_000);

  it('recovers on the source and reports the diagnosis when the restore fails', async () => {
    const r = await runRunner(
      ['--steady-state', '1', '--post-migration', '3', '--migrations', '1'],
      { P4CF_TEST_CORRUPT_CHECKPOINT: '1' },
      300_000,
    );
    const dir = runDirOf(r.stdout);
    expect(r.code).not.toBe(0);
    const diag = readFileSync(join(dir, 'migration_1_restore_diagnosis.txt'), 'utf8');
    expect(diag).toMatch(/restore on loveland failed/);
    expect(diag).toMatch(/cause: image-damaged/);
    const err = readFileSync(join(dir, 'error.log'), 'utf8');
    expect(err).toMatch(/restore on loveland failed/);
    expect(err).toMatch(/checkpoint image is damaged/);
    expect(err).toMatch(/restored on lakewood/);
    const log = readFileSync(join(dir, 'experiment.log'), 'utf8');
    expect(log).toMatch(/recovered: the server runs on lakewood again/);
    // the service answered through the switch again before the run stopped
    expect(log).toMatch(/the service answers its health check through the switch again/);
    const rows = csvRows(dir);
    expect(Number(rows[rows.length - 1].frames_lost || 0)).toBe(0);
    assertRunLeftNothing(dir, { testbedOnly: true, recorded: true });
  }, 320_000);
});
