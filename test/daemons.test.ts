// The one daemon lifecycle (lib/hosts/daemons.ts) on this machine: a run-scoped daemon gets a PID
// file with its start time and an undo that stops its group and removes the file; one that exits
// while starting is reported at once with its log tail; a stopped or reused PID is not "running".
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCleanup } from '../lib/run/cleanup.ts';
import { createLogger } from '../lib/run/log.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { DaemonError, daemonFingerprint, recordedDaemon, recordedPid, startDaemon, stopDaemon } from '../lib/hosts/daemons.ts';

const dir = mkdtempSync(join(tmpdir(), 'p4daemon-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const host = createLocalHost({}, 'local');
const log = createLogger({ out: { write: () => true } as never, err: { write: () => true } as never, tty: false });
const running = (pid: number) => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const fileReady = (f: string) => ({
  what: `${f} exists`,
  timeoutMs: 10_000,
  intervalMs: 50,
  probe: async () => ({ ok: existsSync(f), state: existsSync(f) ? 'there' : 'absent' }),
});

describe('startDaemon / stopDaemon', () => {
  it('starts a run-scoped daemon, records it, and its undo stops it and removes the PID file', async () => {
    const cleanup = createCleanup({ log });
    const pid = await startDaemon(
      host,
      {
        name: 'd1',
        dir,
        cwd: dir,
        outlivesRun: false,
        command: 'touch ready1; exec sleep 30',
        ready: fileReady(join(dir, 'ready1')),
      },
      { log, cleanup, dryRun: false },
    );
    expect(running(pid)).toBe(true);
    const [p, st] = readFileSync(join(dir, 'd1.pid'), 'utf8').trim().split(' ');
    expect(Number(p)).toBe(pid);
    expect(st).toBe(
      readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /, '')
        .split(' ')[19],
    );
    expect(await recordedPid(host, dir, 'd1')).toBe(pid);
    expect(cleanup.pending()).toEqual([`stop d1 on local (pid ${pid})`]);
    await cleanup.runAll('test');
    expect(running(pid)).toBe(false);
    expect(existsSync(join(dir, 'd1.pid'))).toBe(false);
  });

  it('leaves a daemon that outlives the run to stopDaemon', async () => {
    const cleanup = createCleanup({ log });
    const pid = await startDaemon(
      host,
      {
        name: 'd2',
        dir,
        outlivesRun: true,
        command: `touch ${dir}/ready2; exec sleep 30`,
        ready: fileReady(join(dir, 'ready2')),
      },
      { log, cleanup, dryRun: false },
    );
    expect(cleanup.pending()).toEqual([]);
    expect(await stopDaemon(host, dir, 'd2')).toBe(pid);
    expect(running(pid)).toBe(false);
    expect(await recordedPid(host, dir, 'd2')).toBeUndefined();
    expect(await stopDaemon(host, dir, 'd2')).toBeUndefined();
  });

  it('reports a daemon that exits while starting at once, with its log tail', async () => {
    const t0 = Date.now();
    const e = await startDaemon(
      host,
      {
        name: 'd3',
        dir,
        outlivesRun: false,
        command: 'echo "cannot bind: address in use" >&2; exit 3',
        ready: { ...fileReady(join(dir, 'never')), timeoutMs: 20_000 },
      },
      { log, cleanup: createCleanup({ log }), dryRun: false },
    ).catch((x) => x);
    expect(e).toBeInstanceOf(DaemonError);
    expect(e.failure).toBe('exited');
    expect(e.logTail).toContain('cannot bind: address in use');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('does not count a PID file whose start time does not match as running', async () => {
    writeFileSync(join(dir, 'd4.pid'), `${process.pid} 1\n`);
    expect(await recordedPid(host, dir, 'd4')).toBeUndefined();
    expect(await stopDaemon(host, dir, 'd4')).toBeUndefined();
    expect(running(process.pid)).toBe(true);
  });

  it('records what it was started with: command, environment and folder, as a fingerprint', async () => {
    const spec = {
      name: 'd5',
      dir,
      cwd: dir,
      outlivesRun: true,
      env: { A: '1', B: '2' },
      command: `touch ${dir}/ready5; exec sleep 30`,
      ready: fileReady(join(dir, 'ready5')),
    };
    const pid = await startDaemon(host, spec, { log, cleanup: createCleanup({ log }), dryRun: false });
    try {
      expect(await recordedDaemon(host, dir, 'd5')).toEqual({ pid, fingerprint: daemonFingerprint(spec) });
      // the order of the environment does not matter; its values, the command and the folder do
      expect(daemonFingerprint({ ...spec, env: { B: '2', A: '1' } })).toBe(daemonFingerprint(spec));
      for (const other of [
        { ...spec, env: { A: '1', B: '3' } },
        { ...spec, command: 'exec sleep 31' },
        { ...spec, cwd: '/' },
      ])
        expect(daemonFingerprint(other)).not.toBe(daemonFingerprint(spec));
    } finally {
      await stopDaemon(host, dir, 'd5');
    }
    // a PID file of an older version (no fingerprint) still names its running process
    const old = await startDaemon(host, { ...spec, name: 'd6' }, { log, cleanup: createCleanup({ log }), dryRun: false });
    try {
      const [p, st] = readFileSync(join(dir, 'd6.pid'), 'utf8').trim().split(' ');
      writeFileSync(join(dir, 'd6.pid'), `${p} ${st}\n`);
      expect(await recordedDaemon(host, dir, 'd6')).toEqual({ pid: old, fingerprint: '' });
    } finally {
      await stopDaemon(host, dir, 'd6');
    }
  });
});
