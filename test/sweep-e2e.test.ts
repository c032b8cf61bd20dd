// A real sweep on the local testbed (issue 15): 2 points × 1 repetition with short waits, every
// run an ordinary run folder inside the sweep folder, sweep.csv/html written, compare.ts reads it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { projectDir } from './helpers/runner.ts';

warnIfNotRoot('test/sweep-e2e.test.ts (a sweep of real runs on the local testbed)');

const tsx = (script: string, args: string[], timeout: number) =>
  spawnSync(
    process.execPath,
    [join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(projectDir, 'experiments', script), ...args],
    { cwd: projectDir, encoding: 'utf8', timeout, env: { ...process.env, CI: '1' } },
  );

describe.skipIf(!isRoot)('sweep on the local testbed', () => {
  const testbedWasUp = existsSync('/run/netns/p4cf-tofino');
  afterAll(() => {
    tsx('clean.ts', [], 120_000);
    if (!testbedWasUp) tsx('testbed.ts', ['down'], 120_000);
  });

  it('2 points × 1 repetition: two ok runs, a 2-row sweep.csv with 0 frames lost, sweep.html, and compare.ts over the folder', () => {
    const r = tsx(
      'sweep.ts',
      ['--vary', 'LOADGEN_CONNECTIONS=2,4', '--migrations', '1', '--steady-state', '2', '--post-migration', '2'],
      400_000,
    );
    expect(r.status, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    const dir = /sweep\.csv and sweep\.html in (\S+)/.exec(r.stdout)![1];
    expect(r.stdout).toMatch(/run 1\/2: point 1 \(LOADGEN_CONNECTIONS=2\), rep 1\/1; 1 left after it, about .* remaining/);
    const sweep = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8'));
    expect(sweep.runs.map((x: { status: string; params: object }) => [x.status, x.params])).toEqual([
      ['ok', { LOADGEN_CONNECTIONS: '2' }],
      ['ok', { LOADGEN_CONNECTIONS: '4' }],
    ]);
    const runs = readdirSync(dir).filter((f) => f.startsWith('run_'));
    expect(runs).toHaveLength(2);
    // each run folder is an ordinary run that got its point's value
    for (const [i, run] of sweep.runs.entries()) {
      const cfg = JSON.parse(readFileSync(join(dir, run.dir, 'config.json'), 'utf8'));
      expect(cfg.LOADGEN_CONNECTIONS).toEqual({ value: [2, 4][i], origin: '--set' });
      // issue 13: the recovery figure comes from the load generator's own timestamps, not 1 s metrics rows
      const summary = JSON.parse(readFileSync(join(dir, run.dir, 'summary.json'), 'utf8'));
      expect(summary.first_data_after_switch_ms.source).toBe('timing');
      const timing = JSON.parse(readFileSync(join(dir, run.dir, 'migration_timing_1.json'), 'utf8'));
      expect(timing.first_data_source).toBe('loadgen');
      expect(timing.first_data_after_switch_ms).toBeLessThan(timing.last_connection_data_after_switch_ms + 0.001);
      expect(timing.stalled_connections).toBe([2, 4][i]);
    }
    const [head, ...rows] = readFileSync(join(dir, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(2);
    const cols = head.split(',');
    for (const line of rows) {
      const row = Object.fromEntries(line.split(',').map((v, i) => [cols[i], v]));
      expect(row.status).toBe('ok');
      expect(Number(row.downtime_p50_ms)).toBeGreaterThan(0);
      expect(row.frames_lost).toBe('0');
      expect(row.connection_drops).toBe('0');
    }
    const html = readFileSync(join(dir, 'sweep.html'), 'utf8');
    expect(html).toContain('Parameter sweep: LOADGEN_CONNECTIONS');
    expect(html).toMatch(/<img alt="downtime_p50_ms vs LOADGEN_CONNECTIONS" src="data:image\/svg\+xml;base64,/);

    const again = tsx('sweep.ts', ['--resume', dir], 60_000);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/2 run\(s\), 0 to do/);

    const cmp = tsx('compare.ts', ['--out', join(dir, 'compare'), dir], 120_000);
    expect(cmp.status, cmp.stderr).toBe(0);
    expect(existsSync(join(dir, 'compare', 'compare.html'))).toBe(true);
  });
});
