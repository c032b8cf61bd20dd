// What the SSH and the local host share, so both behave the same: the command wrapper (cwd, env,
// sudo, timeout), exec with streamed `[host] line` output and RemoteError on failure, the abort
// signal, background processes in their own process group, and forwards registered as undos.
import net from 'node:net';
import { dirname } from 'node:path';
import { lineSplitter, type Logger } from '../run/log.ts';
import { tail } from '../run/text.ts';
import { CommandAbortedError, RemoteError } from './errors.ts';
import { quote, sh } from './quote.ts';
import type { BackgroundOpts, BackgroundProc, ExecOpts, ExecResult, Forward, Host, HostDeps } from './types.ts';

/** The shell text run for `cmd` with cwd/env/timeout applied, through `sudo -n` when `sudo`. */
export function wrapCommand(cmd: string, opts: ExecOpts, sudo: boolean): string {
  if (!opts.cwd && !opts.env && !opts.timeoutMs && !sudo) return cmd;
  const pre: string[] = [];
  if (opts.cwd) pre.push(`cd ${quote(opts.cwd)} || exit 125`);
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`exec: environment variable name ${JSON.stringify(k)} is not valid`);
    pre.push(`export ${k}=${quote(v)}`);
  }
  const inner = [...pre, cmd].join('\n');
  // coreutils timeout signals the whole process group, so children die with the command.
  const to = opts.timeoutMs ? `timeout -k 2 ${Math.max(0.001, opts.timeoutMs / 1000)}s ` : '';
  // -n: never wait for a password; a missing sudoers rule fails at once (preflight names it).
  return `${sudo ? 'sudo -n ' : ''}${to}sh -c ${quote(inner)}`;
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

function streamer(name: string, log: Logger | undefined, quiet: boolean | undefined) {
  if (quiet || !log) return { push: (_: Buffer | string) => {}, flush: () => {} };
  return lineSplitter((line) => log.host(name, line));
}

/**
 * Runs the wrapped command, calling onStdout/onStderr per chunk, and ends it when `signal`
 * fires; resolves with the exit code.
 */
export type RunWrapped = (
  wrapped: string,
  onStdout: (b: Buffer | string) => void,
  onStderr: (b: Buffer | string) => void,
  signal?: AbortSignal,
) => Promise<ExecResult>;

/**
 * exec of the SSH and local hosts: wrap, stream lines as `[host] line`, throw RemoteError on failure.
 * `sudo`: the host's policy; `isRoot`: the login user is root, so `opts.sudo: true` needs no sudo.
 */
export async function execWith(
  name: string,
  log: Logger | undefined,
  sudo: boolean,
  cmd: string,
  opts: ExecOpts,
  run: RunWrapped,
  isRoot = false,
): Promise<ExecResult> {
  if (opts.signal?.aborted) throw new CommandAbortedError(name, cmd, false);
  const wrapped = wrapCommand(cmd, opts, opts.sudo === undefined ? sudo : opts.sudo && (sudo || !isRoot));
  const out = streamer(name, log, opts.quiet);
  const err = streamer(name, log, opts.quiet);
  const t0 = Date.now();
  let r: ExecResult;
  try {
    r = await run(wrapped, out.push, err.push, opts.signal);
  } catch (e) {
    if (opts.signal?.aborted) throw new CommandAbortedError(name, cmd, true);
    if (e instanceof RemoteError) throw e;
    throw new RemoteError(name, cmd, -1, '', (e as Error).message.replace(`[${name}] `, ''));
  } finally {
    out.flush();
    err.flush();
  }
  if (opts.signal?.aborted) throw new CommandAbortedError(name, cmd, true);
  if (r.code === 0 || opts.allowFail) return r;
  const timedOut = Boolean(opts.timeoutMs) && (r.code === 124 || r.code === 137) && Date.now() - t0 >= opts.timeoutMs! - 50;
  throw new RemoteError(
    name,
    cmd,
    r.code,
    tail(r.stderr || r.stdout),
    timedOut ? `command timed out after ${opts.timeoutMs} ms (exit ${r.code})` : undefined,
  );
}

/** background of the SSH and local hosts: start in its own process group, register the stop as an undo. */
export async function startBackground(host: Host, deps: HostDeps, cmd: string, bo: BackgroundOpts): Promise<BackgroundProc> {
  const r = await host.exec(backgroundScript(cmd, bo), { quiet: true, timeoutMs: 30_000 });
  const [pidText, start = ''] = r.stdout.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1)
    throw new RemoteError(host.name, cmd, 0, '', `background start printed no PID (got ${JSON.stringify(r.stdout)})`);
  deps.log?.host(host.name, `started ${bo.name} (pid ${pid}, log ${bo.logFile})`);
  const stop = asUndo(deps, `stop ${bo.name} on ${host.name} (pid ${pid})`, async () => {
    await host.exec(sh`sh -c ${stopGroupScript(pid, start)}`, { quiet: true, timeoutMs: 10_000 });
  });
  return { pid, stop };
}

/** `release` registered as an undo; the returned function runs it at most once and drops the undo. */
export function asUndo(deps: HostDeps, label: string, release: () => Promise<void>): () => Promise<void> {
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

export function registerForward(hostName: string, deps: HostDeps, f: Forward, remote: string): Forward {
  return {
    localPort: f.localPort,
    close: asUndo(deps, `close forward localhost:${f.localPort} → ${hostName} ${remote}`, f.close),
  };
}

export function listenLocal(
  localPort: number,
  onConn: (s: net.Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
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
        close: () =>
          new Promise<void>((res) => {
            for (const s of sockets) s.destroy();
            server.close(() => res());
          }),
      });
    });
  });
}
