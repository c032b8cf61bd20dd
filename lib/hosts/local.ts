// The local host: this machine with the same API as an SSH host. Commands run with `sh -c`
// directly, not with zx's `$` (which spawns a bash per command and quotes with bash-only $'…').
import { spawn } from 'node:child_process';
import net from 'node:net';
import { dirname } from 'node:path';
import { execWith, listenLocal, registerForward, startBackground } from './exec.ts';
import { sh } from './quote.ts';
import type { ExecResult, Host, HostDeps } from './types.ts';

export interface LocalHostOptions extends HostDeps {
  /** Run commands through `sudo -n` unless told otherwise (default: never; the control machine runs as you). */
  sudo?: boolean;
}

function runLocal(
  wrapped: string,
  stdin: string | Buffer | undefined,
  out: (b: Buffer) => void,
  err: (b: Buffer) => void,
  signal?: AbortSignal,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    // Its own process group, so an abort ends the command and everything it started.
    const p = spawn('sh', ['-c', wrapped], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const onAbort = () => {
      try {
        if (p.pid) process.kill(-p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    p.stdout.on('data', (b: Buffer) => {
      stdout.push(b);
      out(b);
    });
    p.stderr.on('data', (b: Buffer) => {
      stderr.push(b);
      err(b);
    });
    p.stdin.on('error', () => {}); // a command that exits without reading its stdin
    p.stdin.end(stdin ?? '');
    p.once('error', (e) => {
      signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    p.once('close', (code) => {
      signal?.removeEventListener('abort', onAbort);
      resolve({ stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), code: code ?? 128 + 9 });
    });
  });
}

export function createLocalHost(deps: LocalHostOptions = {}, name = 'local'): Host {
  const sudo = Boolean(deps.sudo) && process.getuid?.() !== 0;
  const host: Host = {
    name,
    sudo,
    exec: (cmd, opts = {}) =>
      execWith(
        name,
        deps.log,
        sudo,
        cmd,
        opts,
        (wrapped, out, err, signal) => runLocal(wrapped, opts.stdin, out, err, signal),
        process.getuid?.() === 0,
      ),
    async upload(localPath, remotePath) {
      await host.exec(
        sh`mkdir -p ${dirname(remotePath)} && rm -rf ${remotePath}.p4cf-tmp && cp -a ${localPath} ${remotePath}.p4cf-tmp && rm -rf ${remotePath} && mv ${remotePath}.p4cf-tmp ${remotePath}`,
        { quiet: true },
      );
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
