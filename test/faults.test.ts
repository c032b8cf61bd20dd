// Fault injection on the real local testbed (issue 12): Ctrl-C inside build and inside a migration,
// the controller and the server container killed during steady, the direct link down before a
// migration. Each run is short (1 s steady where the fault needs none, one migration); each ends
// with nothing of the run left on the testbed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { spawnRunner, type Spawned } from './helpers/runner.ts';
import { assertRunLeftNothing, runDirOf, useLocalTestbed } from './helpers/testbed-run.ts';

warnIfNotRoot('test/faults.test.ts (fault injection on the local testbed)');

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '');
  }
};

/** The log from the cleanup's first line on. */
const afterCleanup = (log: string): string => log.slice(Math.max(0, log.search(/cleanup \((after failure|end of run)\)/)));

async function finished(s: Spawned, ms: number): Promise<number> {
  const killer = setTimeout(() => s.child.kill('SIGKILL'), ms);
  const code = await s.exit;
  clearTimeout(killer);
  return code;
}

function stateOf(s: Spawned): Record<string, unknown> {
  const dir = runDirOf(s.stdout());
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
}

describe.skipIf(!isRoot)('faults on the local testbed (issue 12)', () => {
  // the direct link a test downed comes back up whatever happened
  useLocalTestbed({
    before: () => {
      try {
        sh('ip', ['-n', 'p4cf-loveland', 'link', 'set', 'p4cf-direct', 'up']);
      } catch {
        /* no testbed, no link to bring back */
      }
    },
  });

  it('SIGINT inside build: the build stops, then the undos run; nothing is created after cleanup starts', async () => {
    const s = spawnRunner(['--steady-state', '1', '--migrations', '1']);
    await s.waitFor('=== build', 240_000);
    await s.waitFor('[lakewood]', 30_000).catch(() => {}); // inside its first commands
    s.child.kill('SIGINT');
    const code = await finished(s, 180_000);
    const out = s.stdout() + s.stderr();
    expect(code, out.slice(-4000)).toBe(130);
    expect(out).toMatch(/waiting up to \d+ s for phase build to stop/);
    const after = afterCleanup(out);
    expect(after.length).toBeGreaterThan(0);
    // what build says when it created the container or the shim
    expect(after).not.toMatch(/container p4cf-server runs on lakewood|shim \S+ \S+ \/ \S+ on lakewood/);
    assertRunLeftNothing(runDirOf(s.stdout()));
  }, 300_000);

  it('SIGINT inside a migration: the service comes back before the undos, the run says where', async () => {
    const s = spawnRunner(['--steady-state', '1', '--post-migration', '2', '--migrations', '1']);
    await s.waitFor('start (transfer via', 240_000);
    await new Promise((r) => setTimeout(r, 200)); // inside the checkpoint
    s.child.kill('SIGINT');
    const code = await finished(s, 180_000);
    // the run's own log has stdout and stderr (WARN lines) in order
    const out = readFileSync(join(runDirOf(s.stdout()), 'experiment.log'), 'utf8');
    expect(code, out.slice(-4000)).toBe(130);
    const before = out.slice(0, out.search(/cleanup \(after failure\)/));
    // either restored on the source from the checkpoint, or finished on the target
    expect(before).toMatch(
      /the service answers its health check through the switch again|finished on loveland: the server runs there/,
    );
    expect(before).toMatch(/phase migrate (stopped|ended normally)/);
    // no migration step after the cleanup started
    expect(afterCleanup(out)).not.toMatch(/switch updated to port|recovering:|checkpoint done in/);
    assertRunLeftNothing(runDirOf(s.stdout()));
  }, 300_000);

  it('the controller killed during steady: the run ends with a clear error, no migration starts', async () => {
    const s = spawnRunner(['--steady-state', '30', '--migrations', '1']);
    await s.waitFor('=== steady', 240_000);
    const pid = Number(stateOf(s).controllerPid);
    expect(pid).toBeGreaterThan(1);
    process.kill(pid, 'SIGKILL');
    const code = await finished(s, 180_000);
    const out = s.stdout() + s.stderr();
    expect(code, out.slice(-4000)).toBe(1);
    expect(out).toMatch(/phase steady failed: controller \/health at \S+ does not answer/);
    expect(out).not.toMatch(/start \(transfer via/);
    assertRunLeftNothing(runDirOf(s.stdout()));
  }, 300_000);

  it('the server container killed during steady: "server container … not running on lakewood" with its podman state', async () => {
    const s = spawnRunner(['--steady-state', '30', '--migrations', '1']);
    await s.waitFor('=== steady', 240_000);
    sh('podman', ['kill', 'p4cf-server']);
    const code = await finished(s, 180_000);
    const out = s.stdout() + s.stderr();
    expect(code, out.slice(-4000)).toBe(1);
    expect(out).toMatch(/server container p4cf-server not running on lakewood \(podman state: (exited|stopped)/);
    expect(out).not.toMatch(/kill -USR2 0|start \(transfer via/);
    assertRunLeftNothing(runDirOf(s.stdout()));
  }, 300_000);

  it('a full target disk: the transfer fails, the partial checkpoint goes, the service is restored on the source with 0 drops', async () => {
    // a 2 MiB tmpfs over loveland's checkpoint dir: the ~15 MB checkpoint cannot fit
    const cp = '/var/tmp/p4cf/loveland/checkpoints';
    mkdirSync(cp, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'p4cf-fulldisk', cp]);
    try {
      const s = spawnRunner([
        '--steady-state',
        '2',
        '--post-migration',
        '2',
        '--migrations',
        '1',
        '--set',
        'TRANSFER_METHOD=socat',
      ]);
      const code = await finished(s, 240_000);
      const dir = runDirOf(s.stdout());
      expect(existsSync(join(dir, 'experiment.log')), s.stdout().slice(-3000) + s.stderr().slice(-2000)).toBe(true);
      const log = readFileSync(join(dir, 'experiment.log'), 'utf8');
      expect(code, log.slice(-4000)).toBe(1);
      expect(log).toMatch(
        /migration 1 lakewood→loveland failed at step transfer: checkpoint transfer over the direct link lakewood p4cf-direct 192\.168\.10\.2:19500 → loveland p4cf-direct \(socat\)/,
      );
      expect(log).toMatch(
        /recovering: removed the checkpoint copy loveland:\/var\/tmp\/p4cf\/loveland\/checkpoints\/checkpoint\.tar/,
      );
      expect(log).toMatch(/the service answers its health check through the switch again/);
      expect(readdirSync(cp)).toEqual([]);
      const csv = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
      const cols = csv[0].split(',');
      const drops = csv
        .slice(1)
        .map((l) => Number(l.split(',')[cols.indexOf('connection_drops')]))
        .filter((x) => !Number.isNaN(x));
      expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
      assertRunLeftNothing(dir);
    } finally {
      sh('umount', [cp]);
    }
  }, 300_000);

  it('the direct link down before a migration: refused within seconds, naming the link; the service stays up', async () => {
    const s = spawnRunner(['--steady-state', '3', '--migrations', '1']);
    try {
      await s.waitFor('=== steady', 240_000);
      sh('ip', ['-n', 'p4cf-loveland', 'link', 'set', 'p4cf-direct', 'down']);
      await s.waitFor('=== migrate', 60_000);
      const t0 = Date.now();
      const code = await finished(s, 180_000);
      const out = s.stdout() + s.stderr();
      expect(code, out.slice(-4000)).toBe(1);
      expect(out).toMatch(
        /migration 1 lakewood→loveland refused, nothing was changed \(the server still runs on lakewood\): direct link lakewood p4cf-direct \(192\.168\.10\.2\) ↔ loveland p4cf-direct \(192\.168\.10\.3\): (lakewood p4cf-direct is \S+, )?loveland p4cf-direct is down/,
      );
      expect(Date.now() - t0).toBeLessThan(60_000);
      expect(out).not.toMatch(/podman container checkpoint|checkpoint done in/);
      // 0 drops: the service never went down
      const dir = runDirOf(s.stdout());
      const csv = readdirSync(dir).includes('metrics.csv')
        ? readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n')
        : [];
      if (csv.length > 2) {
        const cols = csv[0].split(',');
        const drops = csv
          .slice(1)
          .map((l) => Number(l.split(',')[cols.indexOf('connection_drops')]))
          .filter((x) => !Number.isNaN(x));
        expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
      }
      assertRunLeftNothing(dir);
    } finally {
      sh('ip', ['-n', 'p4cf-loveland', 'link', 'set', 'p4cf-direct', 'up']);
    }
  }, 300_000);
});
