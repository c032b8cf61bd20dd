// The interfaces of this network namespace (name → ifindex), without a process spawn per Write.
// Names come from /proc/net/dev on every call (procfs follows the reader's network namespace,
// /sys may not: nsenter keeps the old /sys). Indices come from `ip -j link`, refreshed when the
// set of names changes or when `ip monitor link` reports a link that was deleted or re-created
// (same name, new index): map elements and ingress hooks hold indices, so that needs a full apply.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Interfaces {
  /** name → ifindex of every interface present now */
  current(): Promise<Map<string, number>>;
  close(): void;
}

/** Interface names listed in /proc/net/dev text (`  name: counters…`; names cannot contain ':'). */
export function parseProcNetDev(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n').slice(2)) {
    const i = line.indexOf(':');
    if (i > 0) names.add(line.slice(0, i).trim());
  }
  return names;
}

/** `ip -o monitor link` line → the link it reports (`Deleted 3: eth0@peer: …` or `3: eth0: …`). */
export function parseMonitorLine(line: string): { deleted: boolean; index: number; name: string } | undefined {
  const m = /^(Deleted )?(\d+): ([^:@\s]+)/.exec(line);
  return m ? { deleted: !!m[1], index: Number(m[2]), name: m[3] } : undefined;
}

async function ipLinks(): Promise<Map<string, number>> {
  try {
    const { stdout } = await run('ip', ['-j', 'link', 'show'], { timeout: 10_000 });
    return new Map((JSON.parse(stdout) as { ifname: string; ifindex: number }[]).map((l) => [l.ifname, l.ifindex]));
  } catch (e: any) {
    throw new Error(`ip -j link show failed (exit ${e.code}): ${String(e.stderr ?? e.message).trim()}`);
  }
}

/** `ip -o monitor link` as a child process, each line of its output given to `onLine`. */
export function spawnLinkMonitor(onLine: (line: string) => void): ChildProcess {
  // The shell kills the monitor when our end of its stdin closes, also when this process dies.
  const p = spawn('sh', ['-c', 'ip -o monitor link & m=$!; read _; kill $m'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let buf = '';
  p.stdout!.setEncoding('utf8');
  p.stdout!.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  });
  p.stdin!.on('error', () => {});
  return p;
}

const sameNames = (a: Set<string>, b: Map<string, number>) => a.size === b.size && [...a].every((n) => b.has(n));

export function createInterfaces(log: (line: string) => void = () => {}): Interfaces {
  let cache: Map<string, number> | undefined;
  let stale = true;
  let monitor: ChildProcess | undefined;
  let closed = false;

  function watch(): void {
    const p = spawnLinkMonitor((line) => {
      const ev = parseMonitorLine(line);
      // Up/down of a known link keeps its index: no refresh needed for that.
      if (ev && (ev.deleted || cache?.get(ev.name) !== ev.index)) stale = true;
    });
    monitor = p;
    p.on('exit', () => {
      if (monitor !== p) return;
      monitor = undefined;
      stale = true;
      if (!closed) log('[dataplane] ip monitor link ended; it is restarted at the next Write, which re-reads the interfaces');
    });
  }

  watch();
  return {
    async current() {
      if (!monitor && !closed) {
        watch();
        stale = true;
      }
      let names: Set<string> | undefined;
      try {
        names = parseProcNetDev(readFileSync('/proc/net/dev', 'utf8'));
      } catch {
        names = undefined;
      }
      if (stale || !cache || !names || !sameNames(names, cache)) {
        // Cleared before the read: an event arriving meanwhile marks the fresh list stale again.
        stale = false;
        cache = await ipLinks();
      }
      return cache;
    },
    close() {
      closed = true;
      const p = monitor;
      monitor = undefined;
      p?.stdin?.end();
    },
  };
}
