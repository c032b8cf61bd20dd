// The lab rehearsal end to end: `testbed.ts up --emulate-hw`, then a full hardware-mode run with
// the overlay it wrote (`run.ts --config .testbed/config_hw.env --migrations 2`): every phase takes
// its hardware branch against hosts logged into as a non-root sudo user, bf_switchd is the SDE
// stand-in, everything else (podman, CRIU, sshd, controller, workload) is real. 0 frames lost,
// nothing of the run or of the emulation left behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { hwEmulationLayout } from '../lib/modes/local/emulate-hw.ts';
import { testbedLayout } from '../lib/modes/local/testbed.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { projectDir, runRunner } from './helpers/runner.ts';

warnIfNotRoot('test/e2e-hw.test.ts (hardware-mode run on the emulated lab)');

const MIGRATIONS = 2;
const tsx = (...args: string[]) =>
  spawnSync(process.execPath, [join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs'), ...args], {
    cwd: projectDir,
    encoding: 'utf8',
    timeout: 300_000,
  });
const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '');
  }
};

function csvRows(dir: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

describe.skipIf(!isRoot)('lab rehearsal: hardware mode on the emulated lab', () => {
  const base = loadConfig({ cwd: projectDir, env: {} }).config;
  const E = hwEmulationLayout(testbedLayout(base, { projectDir }));
  afterAll(() => {
    // whatever a failed assertion left, then the testbed and its emulation (they are not reused)
    tsx('experiments/clean.ts', '--config', E.overlay);
    tsx('experiments/testbed.ts', 'down');
  });

  it(`brings up the emulated lab, runs ${MIGRATIONS} migrations in hardware mode, loses nothing and leaves nothing`, async () => {
    const up = tsx('experiments/testbed.ts', 'up', '--emulate-hw');
    expect(up.status, `${up.stdout}\n${up.stderr}`).toBe(0);
    expect(up.stdout).toContain(`hardware overlay for the emulated lab: ${E.overlay}`);

    const r = await runRunner(
      ['--config', '.testbed/config_hw.env', '--steady-state', '3', '--post-migration', '5', '--migrations', String(MIGRATIONS)],
      {},
      600_000,
    );
    const m = r.stdout.match(/run folder (\S+)/);
    const dir = m ? (m[1].startsWith('/') ? m[1] : join(projectDir, m[1])) : '';
    // the first failing phase and its message, for whoever reads the CI log
    expect(
      r.code,
      `hardware-mode run failed:\n${`${r.stdout}\n${r.stderr}`
        .split('\n')
        .filter((l) => /^(===|ERROR)/.test(l))
        .join('\n')}\n---\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-1500)}`,
    ).toBe(0);
    expect(existsSync(join(dir, 'error.log'))).toBe(false);

    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, { value: unknown }>;
    expect(cfg.TESTBED.value).toBe('hw');
    for (const k of ['TOFINO_SSH', 'LAKEWOOD_SSH', 'LOVELAND_SSH'])
      expect((cfg[k].value as { user: string }).user, k).toBe(E.user);

    const rows = csvRows(dir);
    const num = (row: Record<string, string>, k: string) => Number(row[k]);
    const last = rows[rows.length - 1];
    expect(num(last, 'frames_lost'), 'frames lost').toBe(0);
    const drops = rows.map((row) => num(row, 'connection_drops')).filter((x) => !Number.isNaN(x));
    expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
    expect(rows.filter((row) => row.migration_event === '1').length).toBe(MIGRATIONS);
    for (let i = 1; i <= MIGRATIONS; i++)
      expect(existsSync(join(dir, `migration_timing_${i}.txt`)), `migration ${i} timing`).toBe(true);

    // nothing of the run left: containers, networks, the shim
    expect(
      sh('podman', ['ps', '-a', '--format', '{{.Names}}'])
        .split('\n')
        .filter((n) => n.startsWith('p4cf-')),
    ).toEqual([]);
    expect(sh('podman', ['network', 'ls', '--filter', 'label=p4cf=1', '--format', '{{.Name}}']).trim()).toBe('');
    expect(sh('ip', ['-n', 'p4cf-lakewood', 'link', 'show'])).not.toMatch(/macshim/);

    // and nothing of the emulation after down
    const down = tsx('experiments/testbed.ts', 'down');
    expect(down.status, down.stderr).toBe(0);
    expect(spawnSync('id', [E.user]).status).not.toBe(0);
    for (const p of [E.home, E.sudoers, E.labRoot, E.overlay, '/run/netns/p4cf-tofino']) expect(existsSync(p), p).toBe(false);
    // a zombie has exited already; only its reaping (by PID 1) may lag
    const switchds = sh('ps', ['-e', '-o', 'stat=,pid=,comm='])
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[2] === 'bf_switchd' && !f[0].startsWith('Z'));
    expect(
      switchds.map((f) => f.join(' ')),
      'a bf_switchd still runs',
    ).toEqual([]);
  }, 900_000);
});
