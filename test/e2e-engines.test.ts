// The migration engines end to end on the local testbed, one testbed for all: MIGRATION_ENGINE=runc
// and MIGRATION_ENGINE=lazy with two migrations each (there and back), nothing lost, the container
// podman's after each restore; lazy also reports when its last page arrived, and with its page server
// ended after the switch (P4CF_TEST_LAZY_CUT) the migration fails at postSwitch with a diagnosis.
// (The podman engine's full run is test/e2e.test.ts.) Short waits: this checks correctness, the
// figures are bench/migration.ts's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { runRunner } from './helpers/runner.ts';
import { LAZY_CUT_HOOK } from '../lib/migration/lazy.ts';
import { runDirOf, useLocalTestbed } from './helpers/testbed-run.ts';

warnIfNotRoot('test/e2e-engines.test.ts (runs on the local testbed)');

function column(dir: string, name: string): number[] {
  const [head, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  const at = head.split(',').indexOf(name);
  return lines
    .map((l) => l.split(',')[at])
    .filter((v) => v !== '' && v !== undefined)
    .map(Number);
}

/** Two migrations (there and back) with `engine`: the run folder and each migration's timing JSON. */
async function twoMigrations(engine: string): Promise<{ dir: string; timings: Record<string, unknown>[] }> {
  const r = await runRunner(
    ['--steady-state', '2', '--post-migration', '2', '--migrations', '2', '--set', `MIGRATION_ENGINE=${engine}`],
    {},
    300_000,
  );
  expect(r.code, `runner failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`).toBe(0);
  const dir = runDirOf(r.stdout);
  expect(existsSync(join(dir, 'error.log'))).toBe(false);
  const timings = [1, 2].map((i) => JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')));
  for (const [i, t] of timings.entries()) {
    expect(t.engine, `migration ${i + 1}`).toBe(engine);
    expect(t.podman_ps_after, `migration ${i + 1}: podman ps after the restore`).toMatch(/^Up\b/);
  }
  return { dir, timings };
}

/** No frame lost and no connection dropped over the whole run, from metrics.csv. */
function expectLossless(dir: string): void {
  const lost = column(dir, 'frames_lost');
  expect(lost.length, 'metrics rows with frames_lost').toBeGreaterThan(0);
  expect(lost[lost.length - 1], 'frames lost').toBe(0);
  const drops = column(dir, 'connection_drops');
  expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
}

describe.skipIf(!isRoot)('migration engines end to end', () => {
  // a testbed this file brought up goes down again: the suite leaves the machine as it found it
  useLocalTestbed();
  it('runc: two migrations, 0 frames lost, no drop, podman runs the restored container', async () => {
    const { dir, timings } = await twoMigrations('runc');
    for (const [i, t] of timings.entries()) {
      expect(t.freeze, `migration ${i + 1}`).toBe('frozen');
      for (const k of ['freeze_ms', 'runc_checkpoint_ms', 'podman_restore_ms'])
        expect(typeof t[k], `migration ${i + 1} ${k}`).toBe('number');
    }
    expectLossless(dir);
  }, 320_000);

  it('lazy: two migrations, 0 frames lost, no drop, every deferred page arrived after the resume', async () => {
    const { dir, timings } = await twoMigrations('lazy');
    for (const [n, t] of timings.entries()) {
      const i = n + 1;
      expect(t.criu_config_restore, `migration ${i}: the restore read the CRIU config that asks for lazy pages`).toBe('parsed');
      const deferred = Number(t.lazy_pages_deferred);
      expect(deferred, `migration ${i}: pages left on the source at the restore`).toBeGreaterThan(0);
      // the daemon's own count: every page it had to fetch arrived
      expect(t.lazy_pages_transferred, `migration ${i}`).toMatch(/^(\d+)\/\1$/);
      expect(Number(String(t.lazy_pages_transferred).split('/')[1]), `migration ${i}: the daemon fetched what was left`).toBe(
        deferred,
      );
      expect(Number(t.lazy_pages_done_ms), `migration ${i}: last page after the resume`).toBeGreaterThan(
        Number(t.time_to_ready_ms) - Number(t.switch_ms),
      );
      expect(Number(t.lazy_pages_after_resume_ms), `migration ${i}`).toBeGreaterThanOrEqual(0);
    }
    expectLossless(dir);
  }, 320_000);

  it('lazy: pages cut off in flight (the page server ended after the switch): fails at postSwitch, diagnosed, the target stopped', async () => {
    const r = await runRunner(
      [
        '--steady-state',
        '2',
        '--post-migration',
        '2',
        '--migrations',
        '1',
        '--set',
        'MIGRATION_ENGINE=lazy',
        '--set',
        'STATE_MB=256',
      ],
      { [LAZY_CUT_HOOK]: '1' },
      300_000,
    );
    expect(r.code, `the run should fail:\n${r.stdout.slice(-3000)}`).not.toBe(0);
    const dir = runDirOf(r.stdout);
    const diagnosis = readFileSync(join(dir, 'migration_1_lazy_diagnosis.txt'), 'utf8');
    expect(diagnosis).toMatch(/cause: lazy-pages-lost/);
    expect(diagnosis).toMatch(/state: The server on loveland (was stopped: its memory is incomplete|is dead)/);
    expect(diagnosis).toMatch(/The full dump is still on lakewood:/);
    expect(readFileSync(join(dir, 'error.log'), 'utf8')).toMatch(/failed at step postSwitch/);
  }, 320_000);
});
