// A throwaway OpenSSH server on 127.0.0.1 with generated host and client keys, for tests and
// benchmarks of lib/hosts/ssh.ts. Everything lives in one temp dir; stop() kills the recorded PID only.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../lib/hosts/ports.ts';
import { waitFor } from '../../lib/run/poll.ts';

export interface Sshd {
  dir: string;
  port: number;
  user: string;
  /** Client private key accepted by the server. */
  keyPath: string;
  /** known_hosts pinning this server's ed25519 key as [127.0.0.1]:port. */
  knownHostsPath: string;
  /** A known_hosts that pins a different key for the same name (mismatch case). */
  wrongKnownHostsPath: string;
  pid: number;
  stop(): Promise<void>;
}

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'p4ca-test', '-f', path]);
}

/** sshd speaks first: its banner arriving means it accepts connections. */
function answers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('data', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
    setTimeout(() => {
      s.destroy();
      res(false);
    }, 500);
  });
}

/** `opts.user`: the login user (default: whoever runs the test); sshd reads its keys as that user. */
export async function startSshd(opts: { user?: string } = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'p4ca-sshd-'));
  chmodSync(dir, opts.user ? 0o711 : 0o700);
  const port = await freePort();
  const user = opts.user ?? userInfo().username;
  keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'client_ed25519'));
  keygen(join(dir, 'other_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')), { mode: 0o644 });
  const hostPub = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const otherPub = readFileSync(join(dir, 'other_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`);
  writeFileSync(join(dir, 'known_hosts.wrong'), `[127.0.0.1]:${port} ${otherPub}\n`);
  const conf = join(dir, 'sshd_config');
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'MaxSessions 50',
      'MaxStartups 50:30:100',
      'AllowTcpForwarding yes',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      // Debian's bash sources ~/.bashrc for every SSH command when SHLVL < 1; this machine's root
      // .bashrc runs pyenv init (~150 ms), which would swamp what the tests and bench measure.
      'SetEnv SHLVL=1',
      '',
    ].join('\n'),
  );
  // sshd refuses to start without its privilege separation dir.
  if (!existsSync('/run/sshd')) execFileSync('mkdir', ['-p', '/run/sshd']);
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
  try {
    await Promise.race([
      waitFor(`the throwaway sshd's banner on 127.0.0.1:${port}`, () => answers(port), 10_000),
      exited.then((c) => {
        throw new Error(`sshd exited with ${c}: ${stderr.trim()}`);
      }),
    ]);
  } catch (e) {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pid = child.pid!;
  return {
    dir,
    port,
    user,
    pid,
    keyPath: join(dir, 'client_ed25519'),
    knownHostsPath: join(dir, 'known_hosts'),
    wrongKnownHostsPath: join(dir, 'known_hosts.wrong'),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
