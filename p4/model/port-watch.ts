// Link state of the switch's port interfaces, for $PORT_UP and the port status change
// notifications switchd sends on the stream: `ip -o monitor link` reports every change (a port
// disabled through $PORT, or the peer of its veth going down), `ip -j link` gives the start.
import { execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { spawnLinkMonitor } from './ifaces.ts';

const run = promisify(execFile);

export interface PortWatch {
  /** dev port → link up, for the ports whose interface exists */
  state(): Map<number, boolean>;
  close(): void;
}

/** Up when the kernel says the link carries traffic: operstate UP, or UNKNOWN with LOWER_UP (dummy, tun). */
export function linkUp(operstate: string, flags: string[]): boolean {
  return operstate === 'UP' || (operstate === 'UNKNOWN' && flags.includes('LOWER_UP'));
}

/** `3: p4cf-p140@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 … state UP …` → name and up. */
export function parseLinkLine(line: string): { name: string; up: boolean } | undefined {
  const m = /^(?:Deleted )?\d+: ([^:@\s]+)[^<]*<([^>]*)>.*?\bstate (\S+)/.exec(line);
  if (!m) return undefined;
  return { name: m[1], up: !line.startsWith('Deleted ') && linkUp(m[3], m[2].split(',')) };
}

export function watchPorts(
  ports: Map<number, string>,
  onChange: (port: number, up: boolean) => void,
  log: (l: string) => void,
): PortWatch {
  const byName = new Map([...ports].map(([p, n]) => [n, p]));
  const up = new Map<number, boolean>();
  let closed = false;
  const set = (name: string, isUp: boolean, notify: boolean) => {
    const port = byName.get(name);
    if (port === undefined || up.get(port) === isUp) return;
    up.set(port, isUp);
    if (notify) onChange(port, isUp);
  };
  run('ip', ['-j', 'link', 'show'], { timeout: 10_000 })
    .then(({ stdout }) => {
      for (const l of JSON.parse(stdout) as { ifname: string; operstate: string; flags: string[] }[]) {
        if (!up.has(byName.get(l.ifname) ?? -1)) set(l.ifname, linkUp(l.operstate, l.flags ?? []), false);
      }
    })
    .catch((e) => log(`[ports] ip -j link show failed: ${e.message}`));

  let monitor: ChildProcess | undefined;
  const start = () => {
    const p = spawnLinkMonitor((line) => {
      const ev = parseLinkLine(line);
      if (ev) set(ev.name, ev.up, true);
    });
    monitor = p;
    p.on('exit', () => {
      if (closed || monitor !== p) return;
      log('[ports] ip monitor link ended; restarting it');
      setTimeout(() => {
        if (!closed) start();
      }, 500).unref();
    });
  };
  start();
  return {
    state: () => new Map(up),
    close() {
      closed = true;
      monitor?.stdin?.end();
      monitor = undefined;
    },
  };
}
