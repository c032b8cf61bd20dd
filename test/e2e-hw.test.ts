// The lab rehearsal end to end: `testbed.ts up --emulate-hw`, then hardware-mode runs with the
// overlay it wrote (`run.ts --config .testbed/config_hw.env …`): every phase takes its hardware
// branch against hosts logged into as a non-root sudo user, bf_switchd is the SDE stand-in,
// everything else (podman, CRIU, sshd, controller, workload) is real. Three runs on the same lab:
// the published scenario (2 migrations, 0 frames lost), MIGRATION_MODE=vip (2 migrations, the
// member moved, the checkpoint's addresses rewritten, clients at the VIP only) and WORKLOAD=redis
// (1 migration, 0 lost writes). Nothing of the runs or of the emulation left behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** A hardware-mode run with the emulated lab's overlay; returns its run folder once it exited 0. */
async function hwRun(what: string, args: string[]): Promise<string> {
  const r = await runRunner(['--config', '.testbed/config_hw.env', ...args], {}, 600_000);
  const m = r.stdout.match(/run folder (\S+)/);
  const dir = m ? (m[1].startsWith('/') ? m[1] : join(projectDir, m[1])) : '';
  // the first failing phase and its message, for whoever reads the CI log
  expect(
    r.code,
    `hardware-mode run (${what}) failed:\n${`${r.stdout}\n${r.stderr}`
      .split('\n')
      .filter((l) => /^(===|ERROR)/.test(l))
      .join('\n')}\n---\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-1500)}`,
  ).toBe(0);
  expect(existsSync(join(dir, 'error.log'))).toBe(false);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, { value: unknown }>;
  expect(cfg.TESTBED.value).toBe('hw');
  return dir;
}

const timingOf = (dir: string, i: number) =>
  JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')) as Record<string, string | number>;

/** Nothing of a run left: containers, networks, the shim. */
function assertRunLeftNothing(): void {
  expect(
    sh('podman', ['ps', '-a', '--format', '{{.Names}}'])
      .split('\n')
      .filter((n) => n.startsWith('p4cf-')),
  ).toEqual([]);
  expect(sh('podman', ['network', 'ls', '--filter', 'label=p4cf=1', '--format', '{{.Name}}']).trim()).toBe('');
  expect(sh('ip', ['-n', 'p4cf-lakewood', 'link', 'show'])).not.toMatch(/macshim/);
}

// One emulated lab for the three runs (the published scenario, vip mode, the redis workload), short
// waits; the last test takes it down and checks that nothing of it is left.
describe.skipIf(!isRoot)('lab rehearsal: hardware mode on the emulated lab', () => {
  const base = loadConfig({ cwd: projectDir, env: {} }).config;
  const E = hwEmulationLayout(testbedLayout(base, { projectDir }));
  afterAll(() => {
    // whatever a failed assertion left, then the testbed and its emulation (they are not reused)
    tsx('experiments/clean.ts', '--config', E.overlay);
    tsx('experiments/testbed.ts', 'down');
  });

  beforeAll(() => {
    const up = tsx('experiments/testbed.ts', 'up', '--emulate-hw');
    expect(up.status, `${up.stdout}\n${up.stderr}`).toBe(0);
    expect(up.stdout).toContain(`hardware overlay for the emulated lab: ${E.overlay}`);
  }, 300_000);

  it(`runs ${MIGRATIONS} migrations in hardware mode as the lab user and loses nothing`, async () => {
    const dir = await hwRun('published scenario', [
      '--steady-state',
      '3',
      '--post-migration',
      '5',
      '--migrations',
      String(MIGRATIONS),
    ]);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, { value: unknown }>;
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
    assertRunLeftNothing();
  }, 700_000);

  it('MIGRATION_MODE=vip: H2 → H3 → H2 behind the VIP through bf_switchd, checkpoint rewritten, nothing lost', async () => {
    const dir = await hwRun('vip mode', [
      '--set',
      'MIGRATION_MODE=vip',
      '--steady-state',
      '2',
      '--post-migration',
      '3',
      '--migrations',
      '2',
    ]);
    const ips = [
      ['192.168.12.2', '192.168.12.3'],
      ['192.168.12.3', '192.168.12.2'],
    ];
    for (const i of [1, 2]) {
      const t = timingOf(dir, i);
      expect(t.migration_mode).toBe('vip');
      expect([t.backend_ip_before, t.backend_ip_after], `migration ${i}`).toEqual(ips[i - 1]);
      expect(String(t.container_ip_after).trim(), `migration ${i}`).toBe(`${ips[i - 1][1]}/24`);
      expect(t.client_peers, `migration ${i}`).toBe('192.168.12.10:8080 x4');
      expect(t.ckpt_rewrite, `migration ${i}`).toMatch(/^sockets=4 /);
    }
    const rows = csvRows(dir);
    expect(Number(rows[rows.length - 1].frames_lost), 'frames lost').toBe(0);
    const drops = rows.map((row) => Number(row.connection_drops)).filter((x) => !Number.isNaN(x));
    expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
    // the member was moved by BF Runtime writes to bf_switchd (there and back), and the report says what the clients saw
    const ctl = readFileSync(join(dir, 'controller.log'), 'utf8');
    expect(ctl).toMatch(/write \(migrateNode 192\.168\.12\.2→192\.168\.12\.3\) MODIFY \S*action_selector_ap: ok/);
    expect(ctl).toMatch(/write \(migrateNode 192\.168\.12\.3→192\.168\.12\.2\) MODIFY \S*action_selector_ap: ok/);
    const tables = JSON.parse(readFileSync(join(dir, 'tables.json'), 'utf8')) as {
      tables: { action_selector_ap: { data: { new_dst: string } }[] };
    };
    expect(tables.tables.action_selector_ap.map((m) => m.data.new_dst)).toEqual(['192.168.12.2']);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('The clients only ever saw the VIP 192.168.12.10');
    assertRunLeftNothing();
  }, 700_000);

  it("WORKLOAD=redis: the image built from the lab host's redis-server, one migration, 0 lost writes, 0 reconnects", async () => {
    const dir = await hwRun('redis workload', [
      '--set',
      'WORKLOAD=redis',
      '--set',
      'STATE_MB=8',
      '--steady-state',
      '2',
      '--post-migration',
      '3',
      '--migrations',
      '1',
    ]);
    const rows = csvRows(dir);
    const last = rows[rows.length - 1];
    expect(Number(last.redis_writes_acked)).toBeGreaterThan(50);
    expect(last).toMatchObject({
      redis_lost_writes: '0',
      redis_stale_reads: '0',
      redis_reconnects: '0',
      redis_failed_commands: '0',
    });
    const t = timingOf(dir, 1);
    expect([t.source_node, t.target_node]).toEqual(['lakewood', 'loveland']);
    expect(Number(t.checkpoint_size_bytes)).toBeGreaterThan(8 << 20);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      workload: { name: string; lossless: { ok: boolean; why: string } };
    };
    expect(s.workload.name).toBe('redis');
    expect(s.workload.lossless, s.workload.lossless.why).toMatchObject({ ok: true });
    assertRunLeftNothing();
  }, 700_000);

  it('down leaves nothing of the emulation', () => {
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
  }, 120_000);
});
