// lib/hosts/ (ssh.ts, local.ts, dryrun.ts, quote.ts, known-hosts.ts) against a real OpenSSH server started for this test on 127.0.0.1 (generated keys,
// pinned host key), plus the local and dry-run hosts.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCleanup } from '../lib/run/cleanup.ts';
import { createLogger } from '../lib/run/log.ts';
import { createDryRunHost, createPlan } from '../lib/hosts/dryrun.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { createSshHost } from '../lib/hosts/ssh.ts';
import { parseKnownHosts, entriesFor } from '../lib/hosts/known-hosts.ts';
import { quote, raw, sh } from '../lib/hosts/quote.ts';
import { RemoteError } from '../lib/hosts/errors.ts';
import type { Host } from '../lib/hosts/types.ts';
import { waitForHttp, waitForPort, waitUntil, HealthTimeoutError } from '../lib/run/health.ts';
import { ensureLocalNetTool } from '../lib/nettool/index.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { startSshd, type Sshd } from './helpers/sshd.ts';
import { freePort } from '../lib/hosts/ports.ts';

const HOSTILE = [
  'a b',
  "it's",
  '"dq"',
  '$(echo PWNED)',
  '`echo PWNED`',
  'line1\nline2',
  '',
  ' lead',
  'semi;colon',
  '*',
  '\\',
  '$HOME',
  '-n',
];

describe('sh quoting (pure)', () => {
  it('quotes words, arrays and leaves raw() alone', () => {
    expect(sh`echo ${'a b'} ${['x', "y'z"]} ${raw('>/dev/null')}`).toBe(`echo 'a b' x 'y'\\''z' >/dev/null`);
    expect(quote('')).toBe("''");
    expect(quote(8080)).toBe('8080');
    expect(() => quote(undefined)).toThrow(/cannot interpolate undefined/);
  });
  it('parses known_hosts lines, [host]:port names and hashed entries', () => {
    const key = Buffer.from('\x00\x00\x00\x0bssh-ed25519KEY').toString('base64');
    const salt = Buffer.from('p4ca-salt-20-bytes!!');
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('10.0.0.9').digest('base64')}`;
    const entries = parseKnownHosts(
      `# c\nh1,10.0.0.1 ssh-ed25519 ${key}\n[10.0.0.2]:2222 ssh-ed25519 ${key}\n@revoked x ssh-rsa AAAA\n${hashed} ssh-ed25519 ${key}\n`,
    );
    expect(entries).toHaveLength(3);
    expect(entriesFor(entries, '10.0.0.9', 22).map((e) => e.line)).toEqual([5]);
    expect(entriesFor(entries, '10.0.0.8', 22)).toEqual([]);
    expect(entriesFor(entries, '10.0.0.1', 22).map((e) => e.line)).toEqual([2]);
    expect(entriesFor(entries, '10.0.0.2', 2222).map((e) => e.line)).toEqual([3]);
    expect(entriesFor(entries, '10.0.0.2', 22)).toEqual([]);
  });
});

describe('local and dry-run hosts', () => {
  it('local host runs the same API: quoting, cwd/env, errors, timeout', async () => {
    const h = createLocalHost();
    for (const v of HOSTILE) expect((await h.exec(sh`printf %s ${v}`, { quiet: true })).stdout).toBe(v);
    expect((await h.exec('pwd; echo "$P4CA_X"', { cwd: '/tmp', env: { P4CA_X: 'v w' }, quiet: true })).stdout).toBe(
      '/tmp\nv w\n',
    );
    const e = await h.exec('echo oops >&2; exit 4', { quiet: true }).catch((x) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect(e).toMatchObject({ host: 'local', code: 4, stderrTail: 'oops', command: 'echo oops >&2; exit 4' });
    const t = await h.exec('sleep 5', { timeoutMs: 300, quiet: true }).catch((x) => x);
    expect(t.message).toMatch(/timed out after 300 ms/);
    expect((await h.exec('cat', { stdin: 'in put', quiet: true })).stdout).toBe('in put');
  });
  it('dry-run host prints and records the plan per host, in order, and runs nothing', async () => {
    const plan = createPlan();
    const lines: string[] = [];
    const a = createDryRunHost('tofino', plan, (l) => lines.push(l));
    const b = createDryRunHost('lakewood', plan, (l) => lines.push(l));
    const marker = join(tmpdir(), `p4ca-dry-${process.pid}`);
    const r = await a.exec(sh`touch ${marker}`);
    await b.upload('/x', '/y');
    await b.background('sleep 1', { name: 's', logFile: '/tmp/s.log' });
    await a.exec('echo two');
    expect(r).toEqual({ stdout: '', stderr: '', code: 0 });
    expect(existsSync(marker)).toBe(false);
    expect(lines[0]).toBe(`[tofino] $ touch ${marker}`);
    expect(plan.byHost()).toEqual({
      tofino: [`touch ${marker}`, 'echo two'],
      lakewood: ['upload /x → /y', 'background s: sleep 1 > /tmp/s.log'],
    });
  });
});

describe.skipIf(!isRoot)('SSH host against a throwaway sshd', () => {
  warnIfNotRoot('remote SSH tests');
  let d: Sshd;
  let h: Host;
  let work: string;
  let http: Server;
  let httpPort = 0;
  const logLines: string[] = [];
  const log = createLogger({ silent: true });
  const origHost = log.host;
  log.host = (host, line) => {
    logLines.push(`[${host}] ${line}`);
    origHost(host, line);
  };
  const cleanup = createCleanup();
  const mk = (over: Partial<Parameters<typeof createSshHost>[0]> = {}) =>
    createSshHost({
      name: 'p4ca-box',
      target: { user: d.user, host: '127.0.0.1', port: d.port },
      privateKeyPath: d.keyPath,
      knownHostsPath: d.knownHostsPath,
      log,
      cleanup,
      ...over,
    });

  beforeAll(async () => {
    d = await startSshd();
    h = mk();
    work = mkdtempSync(join(tmpdir(), 'p4ca-remote-'));
    http = createServer((req, res) => {
      res.writeHead(req.url === '/ok' ? 200 : 503);
      res.end(`hello ${req.url}`);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    httpPort = (http.address() as { port: number }).port;
  });
  afterAll(async () => {
    await cleanup.runAll();
    await h?.close();
    await new Promise((r) => http?.close(r));
    await d?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('exec returns output and streams lines with a [host] prefix; one connection is reused', async () => {
    const r = await h.exec('echo one; echo two');
    expect(r).toEqual({ stdout: 'one\ntwo\n', stderr: '', code: 0 });
    expect(logLines).toEqual(expect.arrayContaining(['[p4ca-box] one', '[p4ca-box] two']));
    const sessions = async () => (await h.exec(sh`ps -o pid= --ppid ${d.pid}`, { quiet: true })).stdout.trim().split('\n').length;
    const before = await sessions();
    for (let i = 0; i < 5; i++) await h.exec('true', { quiet: true });
    expect(await sessions()).toBe(before); // still one sshd child: the same connection
  });

  it('quotes hostile values exactly', async () => {
    for (const v of HOSTILE) {
      const r = await h.exec(sh`printf '%s' ${v}`, { quiet: true });
      expect(r.stdout, JSON.stringify(v)).toBe(v);
    }
    const r = await h.exec(sh`printf '[%s]' ${HOSTILE}`, { quiet: true });
    expect(r.stdout).toBe(HOSTILE.map((v) => `[${v}]`).join(''));
  });

  it('cwd, env (hostile value), stdin', async () => {
    const r = await h.exec('pwd; printf %s "$P4CA_V"', { cwd: work, env: { P4CA_V: "x'$(id)`y`" }, quiet: true });
    expect(r.stdout).toBe(`${work}\nx'$(id)\`y\``);
    expect((await h.exec('wc -c', { stdin: Buffer.from('12345'), quiet: true })).stdout.trim()).toBe('5');
  });

  it('a non-zero exit throws RemoteError with host, command, code and stderr tail', async () => {
    const cmd = 'for i in $(seq 1 40); do echo "err line $i" >&2; done; exit 7';
    const e = await h.exec(cmd, { quiet: true }).catch((x) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.host).toBe('p4ca-box');
    expect(e.command).toBe(cmd);
    expect(e.code).toBe(7);
    expect(e.stderrTail).toContain('err line 40');
    expect(e.stderrTail).not.toContain('err line 1\n');
    expect(e.message).toMatch(/^\[p4ca-box\] command failed with exit code 7: for i in/);
    expect((await h.exec('exit 3', { allowFail: true, quiet: true })).code).toBe(3);
  });

  it('timeout kills the command and its children', async () => {
    const marker = join(work, 'late');
    const t0 = Date.now();
    const e = await h.exec(sh`sleep 3; touch ${marker}`, { timeoutMs: 500, quiet: true }).catch((x) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.message).toMatch(/timed out after 500 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
    await new Promise((r) => setTimeout(r, 3500));
    expect(existsSync(marker)).toBe(false);
  });

  it('uploads and downloads a file and a directory', async () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha');
    writeFileSync(join(src, 'sub', 'b.bin'), Buffer.from([0, 1, 2, 255]));
    await h.upload(join(src, 'a.txt'), join(work, 'remote', 'deep', 'a.txt'));
    expect(readFileSync(join(work, 'remote', 'deep', 'a.txt'), 'utf8')).toBe('alpha');
    await h.upload(src, join(work, 'remote', 'tree'));
    expect(readFileSync(join(work, 'remote', 'tree', 'sub', 'b.bin'))).toEqual(Buffer.from([0, 1, 2, 255]));
    await h.download(join(work, 'remote', 'tree'), join(work, 'back'));
    expect(readFileSync(join(work, 'back', 'a.txt'), 'utf8')).toBe('alpha');
    expect(readFileSync(join(work, 'back', 'sub', 'b.bin'))).toEqual(Buffer.from([0, 1, 2, 255]));
    await h.download(join(work, 'remote', 'deep', 'a.txt'), join(work, 'one', 'a.txt'));
    expect(readFileSync(join(work, 'one', 'a.txt'), 'utf8')).toBe('alpha');
    await expect(h.download(join(work, 'nope'), join(work, 'x'))).rejects.toThrow(/remote path .*nope does not exist/);
  });

  it('forwards a local port to a remote HTTP server, and health gates see it', async () => {
    const f = await h.forward(httpPort);
    const res = await fetch(`http://127.0.0.1:${f.localPort}/ok`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello /ok');
    await f.close();
    await expect(fetch(`http://127.0.0.1:${f.localPort}/ok`)).rejects.toThrow();
    const tool = await ensureLocalNetTool(); // the SSH host is this machine
    await waitForPort(h, httpPort, { timeoutMs: 5000, tool });
    await waitForHttp(h, `http://127.0.0.1:${httpPort}/ok`, { timeoutMs: 5000, tool });
    const e = await waitForHttp(h, `http://127.0.0.1:${httpPort}/bad`, { timeoutMs: 1200, intervalMs: 300, tool }).catch(
      (x) => x,
    );
    expect(e).toBeInstanceOf(HealthTimeoutError);
    expect(e.message).toMatch(/^\[p4ca-box\] timed out after 1200 ms waiting for HTTP 200 from .*\/bad; last state: HTTP 503/);
  });

  it('a forward to a port nobody listens on fails the request at once (a reset), not after the fetch timeout', async () => {
    const closed = await freePort();
    const f = await h.forward(closed);
    // with a FIN Node's fetch waited out its whole timeout on a new origin (the controller phase's 3 s)
    const e = await fetch(`http://127.0.0.1:${f.localPort}/health`, { signal: AbortSignal.timeout(8000) }).catch((x) => x);
    await f.close();
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).name).not.toBe('TimeoutError');
  });

  it('background: records the PID, stop() kills exactly its process group, cleanup undo registered', async () => {
    const logFile = join(work, 'bg', 'sleeper.log');
    const bg = await h.background('echo started; sleep 300', { name: 'p4ca-sleeper', logFile });
    expect(cleanup.pending()).toContain(`stop p4ca-sleeper on p4ca-box (pid ${bg.pid})`);
    await waitUntil(
      h,
      'started in the log',
      async () => ({
        ok: (await h.exec(sh`cat ${logFile}`, { quiet: true, allowFail: true })).stdout.includes('started'),
        state: '',
      }),
      { timeoutMs: 5000, intervalMs: 100 },
    );
    const group = async () =>
      (await h.exec(sh`ps -o pid=,stat= -g ${bg.pid} | awk '$2 !~ /^Z/ { print $1 }'`, { quiet: true })).stdout.trim();
    expect((await group()).split('\n').length).toBe(2); // sh and sleep
    await bg.stop();
    expect(await group()).toBe('');
    expect(cleanup.pending().some((l) => l.includes('p4ca-sleeper'))).toBe(false);
  });

  it('refuses a host whose key does not match the pinned one', async () => {
    const w = mk({ name: 'p4ca-mitm', knownHostsPath: d.wrongKnownHostsPath });
    const e = await w.exec('true').catch((x) => x);
    expect(e.message).toMatch(
      /HOST KEY MISMATCH for \[127\.0\.0\.1\]:\d+: the server offered ssh-ed25519 SHA256:\S+, but .*known_hosts\.wrong pins ssh-ed25519 SHA256:\S+ \(line 1\)/,
    );
    await w.close();
  });

  it('refuses a host that is not in known_hosts', async () => {
    const u = mk({ name: 'p4ca-unknown', target: { user: d.user, host: 'localhost', port: d.port } });
    const e = await u.exec('true').catch((x) => x);
    expect(e.message).toContain(`host [localhost]:${d.port} is not in known_hosts ${d.knownHostsPath}; refusing to connect`);
    await u.close();
  });

  it('reconnects after the connection dropped', async () => {
    // Kill this connection's sshd session process: the next exec must reconnect by itself.
    const me = (await h.exec('echo $PPID', { quiet: true })).stdout.trim();
    const sessionParent = (await h.exec(sh`ps -o ppid= -p ${me}`, { quiet: true })).stdout.trim();
    await h.exec(sh`kill ${sessionParent}`, { allowFail: true, quiet: true }).catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.exec('echo back', { quiet: true })).stdout).toBe('back\n');
    const after = (await h.exec('echo $PPID', { quiet: true })).stdout.trim();
    const afterParent = (await h.exec(sh`ps -o ppid= -p ${after}`, { quiet: true })).stdout.trim();
    expect(afterParent).not.toBe(sessionParent); // a new connection, not the killed one
  });
});
