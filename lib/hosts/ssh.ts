// The SSH host: one persistent node-ssh connection per testbed machine (no ssh process per
// command), host keys pinned by a known_hosts file, root commands through `sudo -n` when the
// login user is not root (SUDO), SFTP transfers that work for such a user too.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { NodeSSH } from 'node-ssh';
import type { SshTarget } from '../config/keys.ts';
import { HostKeyError, RemoteError } from './errors.ts';
import { execWith, listenLocal, registerForward, startBackground } from './exec.ts';
import { entriesFor, fingerprint, HOSTKEY_ALGOS, keyType, knownHostsName, parseKnownHosts } from './known-hosts.ts';
import { sh } from './quote.ts';
import { usesSudo, type ExecOpts, type ExecResult, type Host, type HostDeps, type SudoMode } from './types.ts';

export interface SshHostOptions extends HostDeps {
  name: string;
  target: SshTarget;
  privateKeyPath: string;
  knownHostsPath: string;
  connectTimeoutMs?: number;
  /** SUDO (default auto: through `sudo -n` when target.user is not root). */
  sudo?: SudoMode;
}

type Channel = { close(): void; signal?(name: string): void };

export function createSshHost(o: SshHostOptions): Host {
  const { name, target } = o;
  const where = `${target.user}@${target.host}:${target.port}`;
  let ssh: NodeSSH | undefined;
  let connecting: Promise<NodeSSH> | undefined;
  const sudo = usesSudo(o.sudo ?? 'auto', target.user);
  // SFTP runs as the login user: a non-root user stages transfers in a directory it owns.
  const stage = sudo && target.user !== 'root';

  const connect = async (): Promise<NodeSSH> => {
    let text: string;
    try {
      text = readFileSync(o.knownHostsPath, 'utf8');
    } catch (e) {
      throw new Error(`[${name}] cannot read known_hosts file ${o.knownHostsPath} (SSH_KNOWN_HOSTS): ${(e as Error).message}`);
    }
    const pinned = entriesFor(parseKnownHosts(text), target.host, target.port);
    const hostName = knownHostsName(target.host, target.port);
    if (!pinned.length)
      throw new HostKeyError(
        name,
        `[${name}] host ${hostName} is not in known_hosts ${o.knownHostsPath}; refusing to connect. ` +
          `Check the key out of band, then add it (e.g. ssh-keyscan -p ${target.port} ${target.host} >> ${o.knownHostsPath}).`,
      );
    let refusal = '';
    const algos = [...new Set(pinned.flatMap((e) => HOSTKEY_ALGOS[e.type] ?? [e.type]))];
    const client = new NodeSSH();
    try {
      await client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        privateKey: await readFile(o.privateKeyPath, 'utf8').catch((e) => {
          throw new Error(`[${name}] cannot read SSH key ${o.privateKeyPath} (SSH_KEY): ${(e as Error).message}`);
        }),
        readyTimeout: o.connectTimeoutMs ?? 10_000,
        keepaliveInterval: 5000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: algos as never },
        hostVerifier: (key: Buffer) => {
          if (pinned.some((e) => e.key.equals(key))) return true;
          refusal =
            `[${name}] HOST KEY MISMATCH for ${hostName}: the server offered ${keyType(key)} ${fingerprint(key)}, ` +
            `but ${o.knownHostsPath} pins ${pinned.map((e) => `${e.type} ${fingerprint(e.key)} (line ${e.line})`).join(', ')}. Refusing to connect.`;
          return false;
        },
      });
    } catch (e) {
      client.dispose();
      if (refusal) throw new HostKeyError(name, refusal);
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
    connecting ??= connect()
      .then((c) => (ssh = c))
      .finally(() => {
        connecting = undefined;
      });
    return connecting;
  };

  const run = async (
    wrapped: string,
    opts: ExecOpts,
    onStdout: (b: Buffer | string) => void,
    onStderr: (b: Buffer | string) => void,
    signal?: AbortSignal,
  ): Promise<ExecResult> => {
    let started = false;
    const attempt = async () => {
      const c = await conn();
      if (signal?.aborted) throw new Error('aborted before start');
      let channel: Channel | undefined;
      const guardMs = opts.timeoutMs ? opts.timeoutMs + 5000 : 0;
      let guard: NodeJS.Timeout | undefined;
      let rejectAbort: (e: Error) => void = () => {};
      const aborted = new Promise<never>((_, rej) => {
        rejectAbort = rej;
      });
      aborted.catch(() => {});
      // Ask sshd to signal the command (OpenSSH >= 7.9), then drop the channel in any case.
      const onAbort = () => {
        channel?.signal?.('TERM');
        channel?.close();
        rejectAbort(new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const p = c.execCommand(wrapped, {
          stdin: opts.stdin === undefined ? undefined : opts.stdin.toString(),
          noTrim: true,
          onChannel: (ch) => {
            started = true;
            channel = ch as unknown as Channel;
          },
          onStdout,
          onStderr,
        });
        const racers: Promise<unknown>[] = [p, aborted];
        if (guardMs)
          racers.push(
            new Promise<never>((_, rej) => {
              guard = setTimeout(() => {
                channel?.close();
                rej(new Error(`no answer within ${guardMs} ms`));
              }, guardMs);
            }),
          );
        const r = (await Promise.race(racers)) as Awaited<typeof p>;
        // A null code means the channel closed without an exit status (killed by signal or link lost).
        return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? (r.signal ? 128 + 9 : -1) };
      } finally {
        clearTimeout(guard);
        signal?.removeEventListener('abort', onAbort);
      }
    };
    try {
      return await attempt();
    } catch (e) {
      // Reconnect once, but only if the command never started: never run a command twice.
      if (started || e instanceof HostKeyError || signal?.aborted) throw e;
      ssh?.dispose();
      ssh = undefined;
      o.log?.warn(`[${name}] SSH channel failed (${(e as Error).message}); reconnecting once`);
      return await attempt();
    }
  };

  const exec = (cmd: string, opts: ExecOpts = {}) =>
    execWith(
      name,
      o.log,
      sudo,
      cmd,
      opts,
      (wrapped, out, err, signal) => run(wrapped, opts, out, err, signal),
      target.user === 'root',
    );
  const transferFailed = (what: string, e: unknown) => {
    throw new Error(`[${name}] ${what} failed: ${(e as Error).message}`);
  };

  const putTree = async (localPath: string, remotePath: string, isDir: boolean) => {
    const c = await conn();
    if (isDir) {
      const failed: string[] = [];
      const ok = await c.putDirectory(localPath, remotePath, {
        recursive: true,
        concurrency: 4,
        tick: (l, _r, e) => {
          if (e) failed.push(`${l}: ${e.message}`);
        },
      });
      if (!ok) throw new Error(`[${name}] upload of ${localPath} to ${remotePath} failed: ${failed.slice(0, 5).join('; ')}`);
    } else await c.putFile(localPath, remotePath).catch((e) => transferFailed(`upload of ${localPath} to ${remotePath}`, e));
  };
  const getTree = async (remotePath: string, localPath: string, isDir: boolean) => {
    const c = await conn();
    if (isDir) {
      await mkdir(localPath, { recursive: true });
      const failed: string[] = [];
      const ok = await c.getDirectory(localPath, remotePath, {
        recursive: true,
        concurrency: 4,
        tick: (l, _r, e) => {
          if (e) failed.push(`${l}: ${e.message}`);
        },
      });
      if (!ok) throw new Error(`[${name}] download of ${remotePath} to ${localPath} failed: ${failed.slice(0, 5).join('; ')}`);
    } else {
      await mkdir(dirname(localPath), { recursive: true });
      await c.getFile(localPath, remotePath).catch((e) => transferFailed(`download of ${remotePath} to ${localPath}`, e));
    }
  };
  /** A fresh directory the login user owns, beside `near` (same file system: the final move is a rename). */
  const stagingDir = async (near: string) =>
    (
      await exec(
        sh`mkdir -p ${near} && d=$(mktemp -d ${`${near}/.p4cf-stage.XXXXXX`}) && chown ${target.user} "$d" && echo "$d"`,
        { quiet: true },
      )
    ).stdout.trim();

  const host: Host = {
    name,
    sudo,
    exec,
    async upload(localPath, remotePath) {
      const st = await stat(localPath).catch((e) => {
        throw new Error(`[${name}] upload: local path ${localPath}: ${(e as Error).message}`);
      });
      const isDir = st.isDirectory();
      if (!stage) {
        await exec(sh`mkdir -p ${isDir ? remotePath : dirname(remotePath)}`, { quiet: true });
        return putTree(localPath, remotePath, isDir);
      }
      const d = await stagingDir(dirname(remotePath));
      const staged = `${d}/${basename(remotePath)}`;
      try {
        await putTree(localPath, staged, isDir);
        // owned by root afterwards, as an upload by a root login would be
        await exec(
          isDir
            ? sh`mkdir -p ${remotePath} && chown -R 0:0 ${staged} && cp -a ${`${staged}/.`} ${`${remotePath}/`}`
            : sh`chown 0:0 ${staged} && mv -f ${staged} ${remotePath}`,
          { quiet: true },
        );
      } finally {
        await exec(sh`rm -rf ${d}`, { quiet: true, allowFail: true });
      }
    },
    async download(remotePath, localPath) {
      const kind = await exec(
        sh`if [ -d ${remotePath} ]; then echo dir; elif [ -e ${remotePath} ]; then echo file; else echo none; fi`,
        { quiet: true },
      );
      const k = kind.stdout.trim();
      if (k === 'none') throw new RemoteError(name, `download ${remotePath}`, 1, '', `remote path ${remotePath} does not exist`);
      if (!stage) return getTree(remotePath, localPath, k === 'dir');
      const d = (
        await exec(sh`d=$(mktemp -d) && cp -a ${remotePath} "$d"/ && chown -R ${target.user} "$d" && echo "$d"`, { quiet: true })
      ).stdout.trim();
      try {
        await getTree(`${d}/${basename(remotePath)}`, localPath, k === 'dir');
      } finally {
        await exec(sh`rm -rf ${d}`, { quiet: true, allowFail: true });
      }
    },
    background: (cmd, bo) => startBackground(host, o, cmd, bo),
    async forward(remotePort, remoteHost = '127.0.0.1', localPort = 0) {
      await conn();
      const l = await listenLocal(localPort, (sock) => {
        conn()
          .then((c) => c.forwardOut('127.0.0.1', sock.remotePort ?? 0, remoteHost, remotePort))
          .then((ch) => {
            sock.pipe(ch).pipe(sock);
            ch.on('error', () => sock.destroy());
            sock.on('error', () => ch.close());
          })
          // RST, not FIN: Node's fetch waits out its whole timeout on a first connection closed with a FIN
          .catch((e) => {
            o.log?.warn(`[${name}] forward to ${remoteHost}:${remotePort} failed: ${(e as Error).message}`);
            sock.resetAndDestroy();
          });
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
