// One run at a time per testbed. A run holds a lock file for as long as it can change something:
// on the local testbed one file on this machine (the namespaces are machine-wide, so two checkouts
// share them), on hardware one file on each lab host it drives (two control machines may share a
// lab). A second run refuses at once and names the holder; a lock whose process is gone is taken
// over with a warning. Lock files live in /run/lock (tmpfs: a reboot clears them, as it clears
// everything a run started).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';
import { quote } from '../hosts/quote.ts';
import type { Host } from '../hosts/types.ts';

export const LOCK_DIR = '/run/lock';

export interface LockInfo {
  /** The run folder's name, e.g. run_20261201_101500. */
  run: string;
  dir: string;
  pid: number;
  /** Field 22 of /proc/PID/stat: tells a live holder from a reused PID. */
  pidStart: string;
  /** The control machine that runs it. */
  host: string;
  startedAt: string;
}

export class LockHeldError extends Error {
  constructor(
    readonly where: string,
    readonly path: string,
    readonly holder: LockInfo | undefined,
    detail: string,
  ) {
    super(
      `${where}: another p4cf run holds ${path}: ${holder ? describeHolder(holder) : detail}. ` +
        'Wait for it to end (or stop it with Ctrl-C); one testbed runs one experiment at a time.',
    );
    this.name = 'LockHeldError';
  }
}

export function describeHolder(h: LockInfo): string {
  return `run ${h.run} (pid ${h.pid} on ${h.host}, started ${h.startedAt}, folder ${h.dir})`;
}

export function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the parenthesised command name; starttime is field 22 overall
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function myLockInfo(dir: string, now = new Date()): LockInfo {
  return {
    run: basename(dir),
    dir,
    pid: process.pid,
    pidStart: procStart(process.pid) ?? '',
    host: hostname(),
    startedAt: now.toISOString(),
  };
}

export function parseLockInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.run === 'string' && Number.isInteger(v.pid) && typeof v.host === 'string') return v as LockInfo;
  } catch {
    /* not ours or torn: treated as unreadable */
  }
  return undefined;
}

/**
 * Whether the holder's process is gone. Only a holder on this control machine can be checked;
 * one on another machine is assumed alive (refusing is safe, taking over is not).
 */
export function holderGone(h: LockInfo, thisHost = hostname()): boolean {
  if (h.host !== thisHost) return false;
  const start = procStart(h.pid);
  return start === undefined || (Boolean(h.pidStart) && start !== h.pidStart);
}

export interface HeldLock {
  paths: string[];
  release(): Promise<void>;
}

interface LockOpts {
  warn(msg: string): void;
}

// ---- local: one file on this machine -----------------------------------------------------------

export function localLockPath(prefix: string): string {
  return `${LOCK_DIR}/${prefix}testbed.lock`;
}

/** Take the local testbed's lock; throws LockHeldError while a live run holds it. */
export function lockLocal(path: string, me: LockInfo, o: LockOpts): HeldLock {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx'); // O_EXCL: exactly one run creates it
      writeSync(fd, JSON.stringify(me) + '\n');
      closeSync(fd);
      return {
        paths: [path],
        async release() {
          // only our own lock: a takeover after we were presumed dead must survive our late exit
          const now = parseLockInfo(readText(path));
          if (now && now.run === me.run && now.pid === me.pid) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error(`cannot create lock file ${path}: ${(e as Error).message}`);
    }
    const text = readText(path);
    const holder = parseLockInfo(text);
    if (holder && !holderGone(holder)) throw new LockHeldError('local testbed', path, holder, '');
    if (!holder && text.trim())
      throw new LockHeldError(
        'local testbed',
        path,
        undefined,
        `unreadable lock file (remove it if no run is active: rm ${path})`,
      );
    o.warn(`taking over a stale lock ${path}${holder ? `: ${describeHolder(holder)} is no longer running` : ' (empty file)'}`);
    rmSync(path, { force: true });
  }
  throw new LockHeldError('local testbed', path, undefined, 'another run took the lock at the same moment');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

// ---- hardware: one file on each lab host ---------------------------------------------------------

export const remoteLockPath = (role: string): string => `${LOCK_DIR}/p4cf-${role}.lock`;

/** Shell script: create the lock with noclobber (atomic), else print HELD and the holder. */
export function remoteAcquireScript(path: string, info: string, takeOver = false): string {
  return [
    `f=${quote(path)}`,
    `mkdir -p ${quote(LOCK_DIR)} 2>/dev/null`,
    ...(takeOver ? ['rm -f "$f"'] : []),
    `if ( set -C; printf '%s\\n' ${quote(info)} > "$f" ) 2>/dev/null; then echo ACQUIRED; else echo HELD; cat "$f" 2>/dev/null; fi`,
  ].join('\n');
}

/** Shell script: remove the lock only when it is still ours. */
export function remoteReleaseScript(path: string, me: LockInfo): string {
  const mark = `"run":${JSON.stringify(me.run)},`;
  return `f=${quote(path)}; if grep -qF ${quote(mark)} "$f" 2>/dev/null; then rm -f "$f"; fi`;
}

/**
 * Take the lock on every host (in order; on a refusal the ones taken are released again).
 * `hosts` maps the host's role (tofino, lakewood, …) to its handle.
 */
export async function lockHosts(hosts: Record<string, Host>, me: LockInfo, o: LockOpts): Promise<HeldLock> {
  const info = JSON.stringify(me);
  const taken: [Host, string][] = [];
  const releaseAll = async () => {
    await Promise.all(
      taken.map(([h, p]) => h.exec(remoteReleaseScript(p, me), { quiet: true, allowFail: true, timeoutMs: 10_000 })),
    );
  };
  try {
    for (const [role, h] of Object.entries(hosts)) {
      const path = remoteLockPath(role);
      let r = await h.exec(remoteAcquireScript(path, info), { quiet: true, timeoutMs: 10_000 });
      if (r.stdout.startsWith('HELD')) {
        const holder = parseLockInfo(r.stdout.slice(4).trim());
        if (holder && !holderGone(holder)) throw new LockHeldError(h.name, path, holder, '');
        if (!holder)
          throw new LockHeldError(
            h.name,
            path,
            undefined,
            `unreadable lock file (if no run is active: ssh to ${h.name} and rm ${path})`,
          );
        o.warn(`[${h.name}] taking over a stale lock ${path}: ${describeHolder(holder)} is no longer running`);
        r = await h.exec(remoteAcquireScript(path, info, true), { quiet: true, timeoutMs: 10_000 });
        if (!r.stdout.startsWith('ACQUIRED'))
          throw new LockHeldError(
            h.name,
            path,
            parseLockInfo(r.stdout.slice(4).trim()),
            'taken by another run at the same moment',
          );
      } else if (!r.stdout.startsWith('ACQUIRED')) {
        throw new Error(`[${h.name}] lock ${path}: unexpected answer ${JSON.stringify(r.stdout.slice(0, 200))}`);
      }
      taken.push([h, path]);
    }
  } catch (e) {
    await releaseAll();
    throw e;
  }
  return { paths: taken.map(([h, p]) => `${h.name}:${p}`), release: releaseAll };
}
