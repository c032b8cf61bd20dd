// The non-root login path for real: a throwaway user with a NOPASSWD sudoers drop-in, logged into
// over a throwaway sshd. Root commands go through sudo -n inside the host (SUDO=auto), sudo:false
// runs as the login user, SFTP uploads into root-owned folders and downloads of root-only files
// work, and without the sudoers rule `sudo -n true` fails the way preflight reports it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostsOf } from '../lib/hosts/shell.ts';
import { createSshHost } from '../lib/hosts/ssh.ts';
import type { Host, SudoMode } from '../lib/hosts/types.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { startSshd, type Sshd } from './helpers/sshd.ts';

const hasSudo = existsSync('/usr/bin/sudo');
const USER = 'p4cfsudotest';
const SUDOERS = '/etc/sudoers.d/p4cf-sudo-test';
warnIfNotRoot('test/sudo.test.ts (creates a user and a sudoers drop-in)');
if (isRoot && !hasSudo)
  console.warn('SKIPPED test/sudo.test.ts: /usr/bin/sudo is not installed (npx tsx experiments/setup.ts installs it)');

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const quiet = (cmd: string, args: string[]) => {
  try {
    run(cmd, args);
  } catch {
    /* absent */
  }
};

describe.skipIf(!isRoot || !hasSudo)('non-root login with sudo -n', () => {
  let d: Sshd;
  let work: string;
  const hosts: Host[] = [];
  const mk = (sudo: SudoMode = 'auto') => {
    const h = createSshHost({
      name: 'lakewood',
      target: { user: USER, host: '127.0.0.1', port: d.port },
      privateKeyPath: d.keyPath,
      knownHostsPath: d.knownHostsPath,
      sudo,
    });
    hosts.push(h);
    return h;
  };
  beforeAll(async () => {
    quiet('userdel', ['-r', USER]);
    // '*': no password, but not locked — sshd without PAM refuses a locked ('!') account
    run('useradd', ['-m', '-s', '/bin/sh', '-p', '*', USER]);
    writeFileSync(SUDOERS, `${USER} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
    run('visudo', ['-cf', SUDOERS]);
    d = await startSshd({ user: USER });
    work = mkdtempSync(join(tmpdir(), 'p4cf-sudo-'));
    chmodSync(work, 0o755);
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await d?.stop();
    rmSync(SUDOERS, { force: true });
    quiet('userdel', ['-r', USER]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs commands as root through sudo -n; sudo:false as the login user; SUDO=never never', async () => {
    const h = mk();
    expect(h.sudo).toBe(true);
    const { onServer } = hostsOf({ host: () => h });
    expect((await onServer('lakewood')`id -un`).stdout).toBe('root\n');
    expect((await onServer('lakewood', { sudo: false })`id -un`).stdout).toBe(`${USER}\n`);
    // cwd, env and timeout still apply inside sudo
    expect((await h.exec('echo "$(id -u) $X $(pwd)"', { env: { X: 'a b' }, cwd: '/tmp', timeoutMs: 10_000 })).stdout).toBe(
      '0 a b /tmp\n',
    );
    expect((await h.exec('cat', { stdin: 'via sudo' })).stdout).toBe('via sudo');
    expect((await mk('never').exec('id -un')).stdout).toBe(`${USER}\n`);
  });

  it('uploads into root-owned folders and downloads root-only files (staged in a folder the user owns)', async () => {
    const h = mk();
    const rootDir = join(work, 'root-owned', 'sub');
    const src = join(work, 'local.txt');
    writeFileSync(src, 'payload\n');
    await h.upload(src, join(rootDir, 'f.txt'));
    expect(readFileSync(join(rootDir, 'f.txt'), 'utf8')).toBe('payload\n');
    expect(statSync(join(rootDir, 'f.txt')).uid).toBe(0);
    expect(statSync(join(work, 'root-owned')).uid).toBe(0);
    // a folder, merged into an existing one
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'conf'), { recursive: true });
    writeFileSync(join(tree, 'conf', 'a.conf'), 'a');
    mkdirSync(join(rootDir, 'conf'));
    writeFileSync(join(rootDir, 'conf', 'old.conf'), 'old');
    await h.upload(join(tree, 'conf'), join(rootDir, 'conf'));
    expect(readFileSync(join(rootDir, 'conf', 'a.conf'), 'utf8')).toBe('a');
    expect(existsSync(join(rootDir, 'conf', 'old.conf'))).toBe(true);
    // nothing staged is left behind
    expect(
      run('sh', ['-c', `ls -A ${rootDir}`])
        .split('\n')
        .filter((f) => f.startsWith('.p4cf-stage')),
    ).toEqual([]);

    const secret = join(work, 'secret.txt');
    writeFileSync(secret, 'root only\n', { mode: 0o600 });
    const back = join(work, 'back', 'secret.txt');
    await h.download(secret, back);
    expect(readFileSync(back, 'utf8')).toBe('root only\n');
  });

  it('without the sudoers rule, sudo -n true fails at once (what preflight reports)', async () => {
    rmSync(SUDOERS, { force: true });
    const h = mk();
    const r = await h.exec('sudo -n true', { sudo: false, allowFail: true, timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/password is required/);
    const e = await h.exec('id -u').catch((x) => x);
    expect(e.code).toBe(1);
    expect(e.message).toMatch(/^\[lakewood\] command failed with exit code 1/);
  });
});
