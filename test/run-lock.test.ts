// One run at a time (issue 12 item 1): the lock file itself, the per-host locks through a real
// shell, and two real runners started together — the second refuses at once, naming the first.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalHost } from '../lib/hosts/local.ts';
import { holderGone, lockHosts, lockLocal, LockHeldError, myLockInfo, procStart, remoteLockPath } from '../lib/run/lock.ts';
import { runRunner, spawnRunner } from './helpers/runner.ts';

const tmp = mkdtempSync(join(tmpdir(), 'p4ca-lock-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The PID of a process that has exited (so the lock naming it is stale). */
function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('true');
    p.once('exit', () => resolve(p.pid!));
  });
}

describe('local lock file', () => {
  it('the first run takes it; a second refuses naming run, pid, host and start; release frees it', () => {
    const path = join(tmp, 'a.lock');
    const warns: string[] = [];
    const first = lockLocal(path, myLockInfo('/x/results/run_1'), { warn: (m) => warns.push(m) });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ run: 'run_1', pid: process.pid, host: hostname() });
    let err: unknown;
    try {
      lockLocal(path, myLockInfo('/x/results/run_2'), { warn: (m) => warns.push(m) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LockHeldError);
    expect((err as LockHeldError).holder?.run).toBe('run_1');
    expect((err as Error).message).toMatch(
      new RegExp(`holds ${path}: run run_1 \\(pid ${process.pid} on ${hostname()}, started .*folder /x/results/run_1\\)`),
    );
    return first.release().then(() => {
      expect(existsSync(path)).toBe(false);
      expect(warns).toEqual([]);
    });
  });

  it('a lock whose process is gone is taken over with a warning', async () => {
    const path = join(tmp, 'b.lock');
    const stale = { ...myLockInfo('/x/run_old'), pid: await deadPid(), pidStart: '1' };
    writeFileSync(path, JSON.stringify(stale));
    expect(holderGone(stale)).toBe(true);
    const warns: string[] = [];
    const l = lockLocal(path, myLockInfo('/x/run_new'), { warn: (m) => warns.push(m) });
    expect(warns.join('\n')).toMatch(/taking over a stale lock .*run run_old .*no longer running/);
    expect(JSON.parse(readFileSync(path, 'utf8')).run).toBe('run_new');
    await l.release();
  });

  it('a reused PID (same number, other start time) counts as gone; another machine never does', () => {
    const me = myLockInfo('/x/run_r');
    expect(holderGone(me)).toBe(false);
    expect(holderGone({ ...me, pidStart: String(Number(procStart(process.pid)) + 1) })).toBe(true);
    expect(holderGone({ ...me, pid: 999_999_999, host: 'another-machine' })).toBe(false);
  });

  it('release leaves a lock that is no longer ours alone', async () => {
    const path = join(tmp, 'c.lock');
    const l = lockLocal(path, myLockInfo('/x/run_c'), { warn: () => {} });
    writeFileSync(path, JSON.stringify(myLockInfo('/x/run_taker')));
    await l.release();
    expect(JSON.parse(readFileSync(path, 'utf8')).run).toBe('run_taker');
  });
});

describe('per-host locks through a real shell', () => {
  it('takes one file per role; a second holder is refused and what the refused run took is released', async () => {
    const host = createLocalHost();
    const roles = [`t${process.pid}-tofino`, `t${process.pid}-lakewood`];
    const files = roles.map(remoteLockPath);
    try {
      const a = await lockHosts(Object.fromEntries(roles.map((r) => [r, host])), myLockInfo('/x/run_a'), { warn: () => {} });
      expect(files.every((f) => existsSync(f))).toBe(true);
      // run_b first locks a free role, then meets run_a's lock: it must give the free one back
      const free = `t${process.pid}-boulder`;
      let err: unknown;
      try {
        await lockHosts({ [free]: host, [roles[1]]: host }, myLockInfo('/x/run_b'), { warn: () => {} });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LockHeldError);
      expect((err as Error).message).toMatch(/^local: another p4cf run holds .*lakewood\.lock: run run_a/);
      expect(existsSync(remoteLockPath(free))).toBe(false);
      await a.release();
      expect(files.some((f) => existsSync(f))).toBe(false);
    } finally {
      for (const f of files) rmSync(f, { force: true });
    }
  });

  it('a stale remote lock (holder on this machine, process gone) is taken over with a warning', async () => {
    const host = createLocalHost();
    const role = `t${process.pid}-stale`;
    const f = remoteLockPath(role);
    writeFileSync(f, JSON.stringify({ ...myLockInfo('/x/run_dead'), pid: await deadPid(), pidStart: '1' }) + '\n');
    const warns: string[] = [];
    try {
      const l = await lockHosts({ [role]: host }, myLockInfo('/x/run_live'), { warn: (m) => warns.push(m) });
      expect(warns.join('\n')).toMatch(/\[local\] taking over a stale lock .*run run_dead/);
      expect(JSON.parse(readFileSync(f, 'utf8')).run).toBe('run_live');
      await l.release();
      expect(existsSync(f)).toBe(false);
    } finally {
      rmSync(f, { force: true });
    }
  });
});

describe('two runners at once', () => {
  it('the second refuses at once naming the first and leaves no run folder; the first completes', async () => {
    const results = join(tmp, 'results');
    const env = {
      P4CF_PHASES_MODULE: 'test/fixtures/p4ca-phases.ts',
      P4CA_HANG: 'gamma',
      TESTBED_PREFIX: 'p4lk-',
      RESULTS_DIR: results,
    };
    const first = spawnRunner([], env);
    try {
      await first.waitFor('P4CA-READY', 30_000);
      const t0 = Date.now();
      const second = await runRunner([], { ...env, P4CA_HANG: '' }, 30_000);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/local testbed: another p4cf run holds \/run\/lock\/p4lk-testbed\.lock: run run_\d{8}_\d{6}/);
      expect(Date.now() - t0).toBeLessThan(20_000);
      const folders = readdirSync(results);
      expect(folders).toHaveLength(1); // only the first run's folder, which the message names
      expect(second.stderr).toContain(`run ${folders[0]} (pid `);
    } finally {
      first.child.kill('SIGINT');
    }
    expect(await first.exit).toBe(130);
    expect(existsSync('/run/lock/p4lk-testbed.lock')).toBe(false); // released by its cleanup
    // and the machine is free again: a third run completes
    const third = await runRunner([], { ...env, P4CA_HANG: '' }, 30_000);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/run lock: \/run\/lock\/p4lk-testbed\.lock/);
  });
});
