// Creates and removes network namespaces, veth pairs and macvlans for tests, and runs commands
// inside namespaces. Every name is recorded so cleanup() removes exactly what was created.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export { isRoot } from './env.ts';

/** Runs a command (argv, no shell); throws with command, exit code and stderr tail. */
export async function sh(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  try {
    if (opts.input !== undefined) {
      return await new Promise((resolve, reject) => {
        const p = execFile(cmd, args, { timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) =>
          err ? reject(Object.assign(err, { stderr })) : resolve(stdout),
        );
        p.stdin!.end(opts.input);
      });
    }
    const { stdout } = await run(cmd, args, { timeout: opts.timeoutMs ?? 20_000 });
    return stdout;
  } catch (e: any) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (exit ${e.code}): ${String(e.stderr ?? e.message)
        .trim()
        .split('\n')
        .slice(-5)
        .join(' | ')}`,
    );
  }
}

/** Runs a command inside a namespace (nsenter keeps /sys as is, fine for ip/nft/node). */
export const inNs = (ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number; input?: string }) =>
  sh('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], opts);

/** Received packets of an interface inside a namespace (from netlink: nsenter would keep the root's /sys). */
export async function rxPackets(ns: string, ifname: string): Promise<number> {
  const out = await sh('ip', ['-n', ns, '-s', '-j', 'link', 'show', 'dev', ifname]);
  return Number(JSON.parse(out)[0].stats64.rx.packets);
}

export interface Netns {
  /** Adds a namespace with loopback up. */
  add(name: string): Promise<string>;
  /** A veth pair: `a` in namespace `nsA`, `b` in `nsB`, both up. Options set addresses and MACs. */
  veth(
    a: { ns: string; name: string; addr?: string; mac?: string },
    b: { ns: string; name: string; addr?: string; mac?: string },
  ): Promise<void>;
  /** A macvlan on `parent` (in `parentNs`) moved into `ns` with the given name, address and mode. */
  macvlan(o: {
    parentNs: string;
    parent: string;
    ns: string;
    name: string;
    addr?: string;
    mac?: string;
    mode?: 'vepa' | 'bridge' | 'private';
  }): Promise<void>;
  /**
   * A veth from this process's (root) namespace to `name` in `ns`, addressed on both ends: the
   * management link through which this process reaches a daemon (e.g. the switch model) in `ns`.
   */
  rootVeth(o: { ns: string; name: string; addr: string; root: string; rootAddr: string }): Promise<void>;
  /** Deletes every root link and namespace created (which deletes their links), newest first; never throws. */
  cleanup(): Promise<string[]>;
}

const NAME = /^[A-Za-z0-9_.-]{1,15}$/;
function checkName(what: string, n: string, prefix: string) {
  if (!NAME.test(n)) throw new Error(`${what} ${JSON.stringify(n)}: expected 1-15 characters of letters, digits, _ . -`);
  if (!n.startsWith(prefix)) throw new Error(`${what} ${n}: must start with the test prefix ${prefix}`);
}

/** Namespace helper bound to a name prefix (e.g. `p4md-`); refuses names outside it. */
export function netns(prefix: string): Netns {
  const created: string[] = [];
  const rootLinks: string[] = [];
  async function configure(ns: string, name: string, addr?: string, mac?: string) {
    if (mac) await inNs(ns, 'ip', ['link', 'set', 'dev', name, 'address', mac]);
    if (addr) await inNs(ns, 'ip', ['addr', 'add', addr, 'dev', name]);
    await inNs(ns, 'ip', ['link', 'set', 'dev', name, 'up']);
  }
  return {
    async add(name) {
      checkName('namespace', name, prefix);
      await sh('ip', ['netns', 'del', name]).catch(() => undefined); // leftover of a crashed run
      await sh('ip', ['netns', 'add', name]);
      created.push(name);
      await inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
      return name;
    },
    async veth(a, b) {
      checkName('link', a.name, prefix);
      checkName('link', b.name, prefix);
      await inNs(a.ns, 'ip', ['link', 'add', a.name, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns]);
      await configure(a.ns, a.name, a.addr, a.mac);
      await configure(b.ns, b.name, b.addr, b.mac);
    },
    async macvlan(o) {
      checkName('link', o.name, prefix);
      await inNs(o.parentNs, 'ip', [
        'link',
        'add',
        'link',
        o.parent,
        'name',
        o.name,
        'type',
        'macvlan',
        'mode',
        o.mode ?? 'vepa',
      ]);
      await inNs(o.parentNs, 'ip', ['link', 'set', 'dev', o.name, 'netns', o.ns]);
      await configure(o.ns, o.name, o.addr, o.mac);
    },
    async rootVeth(o) {
      checkName('link', o.root, prefix);
      checkName('link', o.name, prefix);
      // A crashed run's root end can outlive its namespace briefly (netns teardown is deferred).
      await sh('ip', ['link', 'del', o.root]).catch(() => undefined);
      await sh('ip', ['link', 'add', o.root, 'type', 'veth', 'peer', 'name', o.name, 'netns', o.ns]);
      rootLinks.push(o.root);
      await sh('ip', ['addr', 'add', o.rootAddr, 'dev', o.root]);
      await sh('ip', ['link', 'set', 'dev', o.root, 'up']);
      await configure(o.ns, o.name, o.addr);
    },
    async cleanup() {
      const errors: string[] = [];
      for (const l of rootLinks.reverse()) await sh('ip', ['link', 'del', l]).catch((e) => errors.push(e.message));
      rootLinks.length = 0;
      for (const ns of created.reverse()) await sh('ip', ['netns', 'del', ns]).catch((e) => errors.push(e.message));
      created.length = 0;
      return errors;
    },
  };
}

/** TCP throughput (bit/s) from `clientNs` to an iperf3 server started in `serverNs` on `addr` (one test, bounded). */
export async function iperf(serverNs: string, clientNs: string, addr: string, seconds: number): Promise<number> {
  const srv = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-B', addr], { stdio: ['ignore', 'pipe', 'pipe'] });
  let srvOut = '';
  srv.stdout.on('data', (d) => {
    srvOut += d;
  });
  try {
    // iperf3 buffers its banner when stdout is a pipe: wait for the listening socket instead.
    const end = Date.now() + 10_000;
    while (!(await inNs(serverNs, 'ss', ['-Hltn', 'sport = :5201'])).includes('5201')) {
      if (Date.now() > end || srv.exitCode !== null) throw new Error(`iperf3 -s in ${serverNs} did not start: ${srvOut}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const out = await inNs(clientNs, 'iperf3', ['-c', addr, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
    return JSON.parse(out).end.sum_received.bits_per_second as number;
  } finally {
    if (srv.exitCode === null) srv.kill('SIGTERM');
  }
}
