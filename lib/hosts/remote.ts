// Host handles: one persistent SSH connection per testbed machine (node-ssh), the same API for this
// machine ('local', zx), and a dry-run variant that only prints and records the plan.
// Host keys are pinned by a known_hosts file; an unknown or changed key is refused.
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { NodeSSH } from 'node-ssh';
import type { SshTarget } from '../config/keys.ts';
import type { Cleanup } from '../run/cleanup.ts';
import { lineSplitter, type Logger } from '../run/log.ts';
import { tail } from '../run/text.ts';

export type HostName = 'tofino' | 'lakewood' | 'loveland' | 'local';

export interface ExecOpts {
  sudo?: boolean; cwd?: string; env?: Record<string, string>; stdin?: string | Buffer;
  timeoutMs?: number; quiet?: boolean; allowFail?: boolean;
  /**
   * Dry run only (real hosts ignore it): what the command would print, so a caller that parses
   * the output goes on planning. A `<… pid>` placeholder (e.g. '<switchd pid>') becomes a number
   * that can never be a real PID and is printed back as the placeholder in the plan.
   */
  dryRunStdout?: string;
}
export interface ExecResult { stdout: string; stderr: string; code: number }
export interface BackgroundOpts { name: string; logFile: string; cwd?: string; env?: Record<string, string> }
export interface BackgroundProc { pid: number; stop(): Promise<void> }
export interface Forward { localPort: number; close(): Promise<void> }

export interface Host {
  name: string;
  exec(cmd: string, opts?: ExecOpts): Promise<ExecResult>;
  upload(localPath: string, remotePath: string): Promise<void>;
  download(remotePath: string, localPath: string): Promise<void>;
  background(cmd: string, opts: BackgroundOpts): Promise<BackgroundProc>;
  forward(remotePort: number, remoteHost?: string, localPort?: number): Promise<Forward>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// quoting

const RAW = Symbol('raw shell text');
export interface RawShell { [RAW]: string }

/** Text inserted into an `sh` template without quoting (e.g. a redirection you wrote yourself). */
export function raw(text: string): RawShell {
  return { [RAW]: text };
}

/** Quote one word for a POSIX shell. */
export function quote(value: unknown): string {
  if (value !== null && typeof value === 'object' && RAW in (value as object)) return (value as RawShell)[RAW];
  if (Array.isArray(value)) return value.map(quote).join(' ');
  if (value === undefined || value === null) throw new Error(`sh: cannot interpolate ${value}`);
  const s = String(value);
  if (s === '') return "''";
  if (/^[A-Za-z0-9_\/.,:@%+=-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Tagged template that shell-quotes every interpolated value; arrays become quoted words. */
export function sh(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0];
  values.forEach((v, i) => { out += quote(v) + strings[i + 1]; });
  return out;
}

// ---------------------------------------------------------------------------------------------
// errors

export class RemoteError extends Error {
  constructor(
    public host: string,
    public command: string,
    public code: number,
    public stderrTail: string,
    what?: string,
  ) {
    super(`[${host}] ${what ?? `command failed with exit code ${code}`}: ${command.length > 300 ? command.slice(0, 300) + '…' : command}${stderrTail ? `\n  stderr: ${stderrTail.split('\n').join('\n  stderr: ')}` : ''}`);
    this.name = 'RemoteError';
  }
}

// Re-exported for the callers that still import it from here; new code imports lib/run/text.ts.
export { tail };

// ---------------------------------------------------------------------------------------------
// command wrapping, shared by SSH and local hosts so both behave the same

/** The shell text run for `cmd` with cwd/env/sudo/timeout applied. */
export function wrapCommand(cmd: string, opts: ExecOpts, isRoot: boolean): string {
  const needsSudo = Boolean(opts.sudo) && !isRoot;
  if (!opts.cwd && !opts.env && !opts.timeoutMs && !needsSudo) return cmd;
  const pre: string[] = [];
  if (opts.cwd) pre.push(`cd ${quote(opts.cwd)} || exit 125`);
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`exec: environment variable name ${JSON.stringify(k)} is not valid`);
    pre.push(`export ${k}=${quote(v)}`);
  }
  const inner = [...pre, cmd].join('\n');
  // coreutils timeout signals the whole process group, so children die with the command.
  const to = opts.timeoutMs ? `timeout -k 2 ${Math.max(0.001, opts.timeoutMs / 1000)}s ` : '';
  return `${needsSudo ? 'sudo -n ' : ''}${to}sh -c ${quote(inner)}`;
}

export function backgroundScript(cmd: string, o: BackgroundOpts): string {
  const pre = [`mkdir -p ${quote(dirname(o.logFile))}`];
  if (o.cwd) pre.push(`cd ${quote(o.cwd)}`);
  for (const [k, v] of Object.entries(o.env ?? {})) pre.push(`export ${k}=${quote(v)}`);
  // setsid makes the process a group leader, so stop() can kill exactly its group (never by name).
  // The start time pins the PID against reuse.
  return `${pre.join(' && ')} && { setsid nohup sh -c ${quote(cmd)} >${quote(o.logFile)} 2>&1 </dev/null & p=$!; echo "$p $(awk '{print $22}' /proc/$p/stat 2>/dev/null)"; }`;
}

/**
 * Shell script that stops the process group `pid` leads (started with setsid): TERM, then KILL
 * after 5 s; with `startTime` (field 22 of /proc/PID/stat) a reused PID is left alone.
 * The group counts as gone when no member runs any more, zombies aside: `kill -0` succeeds on a
 * zombie, and an orphan's zombie waits for PID 1 to reap it — in some containers only every
 * couple of seconds (about 2 s in the CI sandbox), or never — although it holds no port or file.
 */
export function stopGroupScript(pid: number, startTime = ''): string {
  return [
    `p=${pid}`,
    `st=$(awk '{print $22}' /proc/$p/stat 2>/dev/null)`,
    // Leader alive with another start time: the PID was reused; leave that process alone.
    `if [ -n "$st" ] && [ -n ${quote(startTime)} ] && [ "$st" != ${quote(startTime)} ]; then echo "pid $p reused, not killing"; exit 0; fi`,
    // a member of group $p that is not a zombie (state and group follow the parenthesised name)
    `live() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v g="$p" '{ sub(/^.*\\) /, ""); if ($3 == g && $1 != "Z") f = 1 } END { exit !f }'; }`,
    `kill -TERM -$p 2>/dev/null || exit 0`,
    `i=0; while [ $i -lt 100 ]; do live || exit 0; sleep 0.05; i=$((i+1)); done`,
    `kill -KILL -$p 2>/dev/null; exit 0`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// known_hosts

export interface KnownHostEntry { patterns: string[]; hashed?: { salt: Buffer; hash: Buffer }; type: string; key: Buffer; line: number }

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((l, i) => {
    const line = l.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) return;
    const [hosts, type, b64] = line.split(/\s+/);
    if (!hosts || !type || !b64) return;
    const key = Buffer.from(b64, 'base64');
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      out.push({ patterns: [], hashed: { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') }, type, key, line: i + 1 });
    } else out.push({ patterns: hosts.split(','), type, key, line: i + 1 });
  });
  return out;
}

/** The known_hosts name of a target: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function entriesFor(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((e) =>
    e.hashed
      ? createHmac('sha1', e.hashed.salt).update(name).digest().equals(e.hashed.hash)
      : e.patterns.includes(name));
}

export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

function keyType(blob: Buffer): string {
  try { return blob.subarray(4, 4 + blob.readUInt32BE(0)).toString(); } catch { return 'unknown'; }
}

const HOSTKEY_ALGOS: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

// ---------------------------------------------------------------------------------------------
// output handling

export interface HostDeps {
  log?: Logger;
  cleanup?: Cleanup;
}

function streamer(name: string, log: Logger | undefined, quiet: boolean | undefined) {
  if (quiet || !log) return { push: (_: Buffer | string) => {}, flush: () => {} };
  return lineSplitter((line) => log.host(name, line));
}

/** Runs the wrapped command, calling onStdout/onStderr per chunk; resolves with the exit code. */
type RunWrapped = (wrapped: string, onStdout: (b: Buffer | string) => void, onStderr: (b: Buffer | string) => void) => Promise<ExecResult>;

/** exec of the SSH and local hosts: wrap, stream lines as `[host] line`, throw RemoteError on failure. */
async function execWith(name: string, log: Logger | undefined, isRoot: boolean, cmd: string, opts: ExecOpts, run: RunWrapped): Promise<ExecResult> {
  const wrapped = wrapCommand(cmd, opts, isRoot);
  const out = streamer(name, log, opts.quiet);
  const err = streamer(name, log, opts.quiet);
  const t0 = Date.now();
  let r: ExecResult;
  try {
    r = await run(wrapped, out.push, err.push);
  } catch (e) {
    if (e instanceof RemoteError) throw e;
    throw new RemoteError(name, cmd, -1, '', (e as Error).message.replace(`[${name}] `, ''));
  } finally {
    out.flush(); err.flush();
  }
  if (r.code === 0 || opts.allowFail) return r;
  const timedOut = Boolean(opts.timeoutMs) && (r.code === 124 || r.code === 137) && Date.now() - t0 >= opts.timeoutMs! - 50;
  throw new RemoteError(name, cmd, r.code, tail(r.stderr || r.stdout),
    timedOut ? `command timed out after ${opts.timeoutMs} ms (exit ${r.code})` : undefined);
}

/** background of the SSH and local hosts: start in its own process group, register the stop as an undo. */
async function startBackground(host: Host, deps: HostDeps, cmd: string, bo: BackgroundOpts): Promise<BackgroundProc> {
  const r = await host.exec(backgroundScript(cmd, bo), { quiet: true, timeoutMs: 30_000 });
  const [pidText, start = ''] = r.stdout.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1) throw new RemoteError(host.name, cmd, 0, '', `background start printed no PID (got ${JSON.stringify(r.stdout)})`);
  deps.log?.host(host.name, `started ${bo.name} (pid ${pid}, log ${bo.logFile})`);
  const stop = asUndo(deps, `stop ${bo.name} on ${host.name} (pid ${pid})`, async () => {
    await host.exec(sh`sh -c ${stopGroupScript(pid, start)}`, { quiet: true, timeoutMs: 10_000 });
  });
  return { pid, stop };
}

/** `release` registered as an undo; the returned function runs it at most once and drops the undo. */
function asUndo(deps: HostDeps, label: string, release: () => Promise<void>): () => Promise<void> {
  let done = false;
  let remove = () => {};
  const run = async () => {
    if (done) return;
    done = true;
    remove();
    await release();
  };
  if (deps.cleanup) remove = deps.cleanup.add(label, run);
  return run;
}

function registerForward(hostName: string, deps: HostDeps, f: Forward, remote: string): Forward {
  return { localPort: f.localPort, close: asUndo(deps, `close forward localhost:${f.localPort} → ${hostName} ${remote}`, f.close) };
}

function listenLocal(localPort: number, onConn: (s: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onConn(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on 127.0.0.1:${localPort}: ${e.message}`)));
    server.listen(localPort, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        close: () => new Promise<void>((res) => { for (const s of sockets) s.destroy(); server.close(() => res()); }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// SSH host

export interface SshHostOptions extends HostDeps {
  name: string;
  target: SshTarget;
  privateKeyPath: string;
  knownHostsPath: string;
  connectTimeoutMs?: number;
}

export function createSshHost(o: SshHostOptions): Host {
  const { name, target } = o;
  const where = `${target.user}@${target.host}:${target.port}`;
  let ssh: NodeSSH | undefined;
  let connecting: Promise<NodeSSH> | undefined;
  const isRoot = target.user === 'root';

  const connect = async (): Promise<NodeSSH> => {
    let text: string;
    try { text = readFileSync(o.knownHostsPath, 'utf8'); } catch (e) {
      throw new Error(`[${name}] cannot read known_hosts file ${o.knownHostsPath} (SSH_KNOWN_HOSTS): ${(e as Error).message}`);
    }
    const pinned = entriesFor(parseKnownHosts(text), target.host, target.port);
    const hostName = knownHostsName(target.host, target.port);
    if (!pinned.length)
      throw Object.assign(new Error(`[${name}] host ${hostName} is not in known_hosts ${o.knownHostsPath}; refusing to connect. ` +
        `Check the key out of band, then add it (e.g. ssh-keyscan -p ${target.port} ${target.host} >> ${o.knownHostsPath}).`), { noRetry: true });
    let refusal = '';
    const algos = [...new Set(pinned.flatMap((e) => HOSTKEY_ALGOS[e.type] ?? [e.type]))];
    const client = new NodeSSH();
    try {
      await client.connect({
        host: target.host, port: target.port, username: target.user,
        privateKey: await readFile(o.privateKeyPath, 'utf8').catch((e) => {
          throw new Error(`[${name}] cannot read SSH key ${o.privateKeyPath} (SSH_KEY): ${(e as Error).message}`);
        }),
        readyTimeout: o.connectTimeoutMs ?? 10_000,
        keepaliveInterval: 5000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: algos as never },
        hostVerifier: (key: Buffer) => {
          if (pinned.some((e) => e.key.equals(key))) return true;
          refusal = `[${name}] HOST KEY MISMATCH for ${hostName}: the server offered ${keyType(key)} ${fingerprint(key)}, ` +
            `but ${o.knownHostsPath} pins ${pinned.map((e) => `${e.type} ${fingerprint(e.key)} (line ${e.line})`).join(', ')}. Refusing to connect.`;
          return false;
        },
      });
    } catch (e) {
      client.dispose();
      if (refusal) throw Object.assign(new Error(refusal), { noRetry: true });
      throw new Error(`[${name}] SSH connection to ${where} failed: ${(e as Error).message}`);
    }
    // node-ssh stops listening for errors after 'ready'; without this a dropped link would crash the run.
    client.connection?.on('error', (e: Error) => o.log?.warn(`[${name}] SSH connection error: ${e.message}`));
    // Small request/response packets: Nagle + delayed ACK would add ~40 ms to every command.
    (client.connection as unknown as { setNoDelay?(v: boolean): void })?.setNoDelay?.(true);
    return client;
  };

  const conn = async (): Promise<NodeSSH> => {
    if (ssh?.isConnected()) return ssh;
    ssh = undefined;
    connecting ??= connect().then((c) => (ssh = c)).finally(() => { connecting = undefined; });
    return connecting;
  };

  const run = async (wrapped: string, opts: ExecOpts, onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<ExecResult> => {
    let started = false;
    const attempt = async () => {
      const c = await conn();
      let channel: { close(): void } | undefined;
      const guardMs = opts.timeoutMs ? opts.timeoutMs + 5000 : 0;
      let guard: NodeJS.Timeout | undefined;
      try {
        const p = c.execCommand(wrapped, {
          stdin: opts.stdin === undefined ? undefined : opts.stdin.toString(),
          noTrim: true,
          onChannel: (ch) => { started = true; channel = ch; },
          onStdout, onStderr,
        });
        const r = guardMs
          ? await Promise.race([p, new Promise<never>((_, rej) => { guard = setTimeout(() => { channel?.close(); rej(new Error(`no answer within ${guardMs} ms`)); }, guardMs); })])
          : await p;
        // A null code means the channel closed without an exit status (killed by signal or link lost).
        return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? (r.signal ? 128 + 9 : -1) };
      } finally {
        clearTimeout(guard);
      }
    };
    try {
      return await attempt();
    } catch (e) {
      // Reconnect once, but only if the command never started: never run a command twice.
      if (started || (e as { noRetry?: boolean }).noRetry) throw e;
      ssh?.dispose();
      ssh = undefined;
      o.log?.warn(`[${name}] SSH channel failed (${(e as Error).message}); reconnecting once`);
      return await attempt();
    }
  };

  const host: Host = {
    name,
    exec: (cmd, opts = {}) => execWith(name, o.log, isRoot, cmd, opts, (wrapped, out, err) => run(wrapped, opts, out, err)),
    async upload(localPath, remotePath) {
      const st = await stat(localPath).catch((e) => { throw new Error(`[${name}] upload: local path ${localPath}: ${(e as Error).message}`); });
      const c = await conn();
      if (st.isDirectory()) {
        await host.exec(sh`mkdir -p ${remotePath}`, { quiet: true });
        const failed: string[] = [];
        const ok = await c.putDirectory(localPath, remotePath, { recursive: true, concurrency: 4, tick: (l, _r, e) => { if (e) failed.push(`${l}: ${e.message}`); } });
        if (!ok) throw new Error(`[${name}] upload of ${localPath} to ${remotePath} failed: ${failed.slice(0, 5).join('; ')}`);
      } else {
        await host.exec(sh`mkdir -p ${dirname(remotePath)}`, { quiet: true });
        await c.putFile(localPath, remotePath).catch((e) => { throw new Error(`[${name}] upload of ${localPath} to ${remotePath} failed: ${(e as Error).message}`); });
      }
    },
    async download(remotePath, localPath) {
      const c = await conn();
      const kind = await host.exec(sh`if [ -d ${remotePath} ]; then echo dir; elif [ -e ${remotePath} ]; then echo file; else echo none; fi`, { quiet: true });
      const k = kind.stdout.trim();
      if (k === 'none') throw new RemoteError(name, `download ${remotePath}`, 1, '', `remote path ${remotePath} does not exist`);
      if (k === 'dir') {
        await mkdir(localPath, { recursive: true });
        const failed: string[] = [];
        const ok = await c.getDirectory(localPath, remotePath, { recursive: true, concurrency: 4, tick: (l, _r, e) => { if (e) failed.push(`${l}: ${e.message}`); } });
        if (!ok) throw new Error(`[${name}] download of ${remotePath} to ${localPath} failed: ${failed.slice(0, 5).join('; ')}`);
      } else {
        await mkdir(dirname(localPath), { recursive: true });
        await c.getFile(localPath, remotePath).catch((e) => { throw new Error(`[${name}] download of ${remotePath} to ${localPath} failed: ${(e as Error).message}`); });
      }
    },
    background: (cmd, bo) => startBackground(host, o, cmd, bo),
    async forward(remotePort, remoteHost = '127.0.0.1', localPort = 0) {
      await conn();
      const l = await listenLocal(localPort, (sock) => {
        conn()
          .then((c) => c.forwardOut('127.0.0.1', sock.remotePort ?? 0, remoteHost, remotePort))
          .then((ch) => { sock.pipe(ch).pipe(sock); ch.on('error', () => sock.destroy()); sock.on('error', () => ch.close()); })
          .catch((e) => { o.log?.warn(`[${name}] forward to ${remoteHost}:${remotePort} failed: ${(e as Error).message}`); sock.destroy(); });
      });
      return registerForward(name, o, { localPort: l.port, close: l.close }, `${remoteHost}:${remotePort}`);
    },
    async close() {
      ssh?.dispose();
      ssh = undefined;
    },
  };
  return host;
}

// ---------------------------------------------------------------------------------------------
// local host (this machine, no SSH)

export function createLocalHost(deps: HostDeps = {}, name = 'local'): Host {
  const isRoot = process.getuid?.() === 0;
  const host: Host = {
    name,
    exec: (cmd, opts = {}) => execWith(name, deps.log, isRoot, cmd, opts, (wrapped, out, err) => new Promise((resolve, reject) => {
      // sh directly (not zx's $, which adds a bash per command).
      const p = spawn('sh', ['-c', wrapped], { stdio: ['pipe', 'pipe', 'pipe'] });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      p.stdout.on('data', (b: Buffer) => { stdout.push(b); out(b); });
      p.stderr.on('data', (b: Buffer) => { stderr.push(b); err(b); });
      p.stdin.on('error', () => {}); // a command that exits without reading its stdin
      p.stdin.end(opts.stdin ?? '');
      p.once('error', reject);
      p.once('close', (code) => resolve({ stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), code: code ?? 128 + 9 }));
    })),
    async upload(localPath, remotePath) {
      await host.exec(sh`mkdir -p ${dirname(remotePath)} && rm -rf ${remotePath}.p4cf-tmp && cp -a ${localPath} ${remotePath}.p4cf-tmp && rm -rf ${remotePath} && mv ${remotePath}.p4cf-tmp ${remotePath}`, { quiet: true });
    },
    async download(remotePath, localPath) {
      await host.upload(remotePath, localPath);
    },
    background: (cmd, bo) => startBackground(host, deps, cmd, bo),
    async forward(remotePort, remoteHost = '127.0.0.1', localPort = 0) {
      const l = await listenLocal(localPort, (sock) => {
        const up = net.connect(remotePort, remoteHost);
        sock.pipe(up).pipe(sock);
        up.on('error', () => sock.destroy());
        sock.on('error', () => up.destroy());
      });
      return registerForward(name, deps, { localPort: l.port, close: l.close }, `${remoteHost}:${remotePort}`);
    },
    async close() {},
  };
  return host;
}

// ---------------------------------------------------------------------------------------------
// dry run

export interface PlanStep { host: string; kind: 'exec' | 'upload' | 'download' | 'background' | 'forward' | 'http'; text: string }
export interface Plan {
  steps: PlanStep[];
  byHost(): Record<string, string[]>;
  /** Record and print one step; also used for steps that are not host commands (controller HTTP calls). */
  record(host: string, kind: PlanStep['kind'], text: string, print?: (line: string) => void): void;
  /** A stand-in PID for `label` (e.g. '<switchd pid>'); printed back as the label. */
  fakePid(label: string): number;
}

// Above Linux's PID_MAX_LIMIT (2^22): a stand-in can never be mistaken for a real process.
const FAKE_PID_BASE = 9_000_000;

export function createPlan(print: (line: string) => void = (l) => process.stdout.write(l + '\n')): Plan {
  const steps: PlanStep[] = [];
  const labels = new Map<number, string>();
  const readable = (text: string) => labels.size ? text.replace(/\b9\d{6}\b/g, (n) => labels.get(Number(n)) ?? n) : text;
  return {
    steps,
    byHost() {
      const out: Record<string, string[]> = {};
      for (const s of steps) (out[s.host] ??= []).push(s.text);
      return out;
    },
    record(host, kind, raw, printer = print) {
      const text = readable(raw);
      steps.push({ host, kind, text });
      printer(`[${host}] ${kind === 'exec' ? '$ ' : ''}${text.split('\n').join(`\n[${host}]   `)}`);
    },
    fakePid(label) {
      const pid = FAKE_PID_BASE + labels.size + 1;
      labels.set(pid, label);
      return pid;
    },
  };
}

/**
 * A host that runs nothing: prints `[host] $ cmd` and records every step in `plan`. exec answers
 * `opts.dryRunStdout` (default empty) with exit 0; background processes get stand-in PIDs and,
 * as on a real host, an undo in `deps.cleanup`, so the plan ends with the stops a run would do.
 * `print` replaces the plan's printer for this host's lines (tests).
 */
export function createDryRunHost(name: string, plan: Plan, print?: (line: string) => void, deps: HostDeps = {}): Host {
  const rec = (kind: PlanStep['kind'], text: string) => plan.record(name, kind, text, print);
  const host: Host = {
    name,
    async exec(cmd, opts = {}) {
      rec('exec', `${opts.sudo ? 'sudo ' : ''}${opts.cwd ? `(cd ${opts.cwd}) ` : ''}${cmd}`);
      const stdout = (opts.dryRunStdout ?? '').replace(/<[^<>]*\bpid>/g, (label) => String(plan.fakePid(label)));
      return { stdout, stderr: '', code: 0 };
    },
    async upload(l, r) { rec('upload', `upload ${l} → ${r}`); },
    async download(r, l) { rec('download', `download ${r} → ${l}`); },
    async background(cmd, bo) {
      rec('background', `background ${bo.name}: ${cmd} > ${bo.logFile}`);
      const label = `<${bo.name} pid>`;
      const pid = plan.fakePid(label);
      const stop = asUndo(deps, `stop ${bo.name} on ${name}`, async () => {
        rec('exec', `stop ${bo.name}: kill -TERM -${label}, then -KILL after 5 s (only if its start time still matches)`);
      });
      return { pid, stop };
    },
    async forward(remotePort, remoteHost = '127.0.0.1', localPort = 0) {
      rec('forward', `forward localhost:${localPort || '<free port>'} → ${remoteHost}:${remotePort}`);
      const close = async () => { rec('forward', `close forward localhost:${localPort || '<free port>'}`); };
      return registerForward(name, deps, { localPort, close }, `${remoteHost}:${remotePort}`);
    },
    async close() {},
  };
  return host;
}
