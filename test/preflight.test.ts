// The preflight phase against fake hosts that answer like lab machines (the logic only; the real
// commands run in the e2e and emulated-hardware runs): sudo -n for a non-root login, the runtime
// podman is configured with (runc or crun) recorded per host, Node.js / podman / CRIU versions.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { RemoteError } from '../lib/hosts/errors.ts';
import { usesSudo, type ExecOpts, type Host, type HostName } from '../lib/hosts/types.ts';
import { createCleanup } from '../lib/run/cleanup.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import type { ManifestHandle } from '../lib/run/rundir.ts';
import { openState } from '../lib/run/rundir.ts';
import { phase as preflight, versionOf, versionProblems } from '../experiments/phases/preflight.ts';

const projectDir = resolve(import.meta.dirname, '..');
type Answer = { stdout?: string; stderr?: string; code?: number };

const GOOD_SERVER: Record<string, string> = {
  kernel: '6.1.0',
  node: 'v20.11.1',
  podman: 'podman version 4.3.1',
  criu: 'Version: 4.2',
  runc: 'runc version 1.1.5',
  crun: 'MISSING',
  ip: 'ip utility, iproute2-6.1.0',
  nsenter: 'nsenter from util-linux 2.38.1',
  socat: 'socat version 1.7.4.4',
  ss: 'ss utility, iproute2-6.1.0',
  ping: '/usr/bin/ping',
  nft: 'nftables v1.0.6',
  iptables: 'iptables v1.8.9',
};
const probeOut = (v: Record<string, string>) =>
  Object.entries(v)
    .map(([k, x]) => `${k}=${x}`)
    .join('\n') + '\n';

interface Fake {
  host: Host;
  seen: { cmd: string; sudo?: boolean }[];
}

function fakeHost(name: string, answers: [RegExp, Answer][], sudo = false): Fake {
  const seen: Fake['seen'] = [];
  const exec = async (cmd: string, opts: ExecOpts = {}) => {
    seen.push({ cmd, sudo: opts.sudo ?? sudo });
    const a = answers.find(([re]) => re.test(cmd))?.[1] ?? { code: 0 };
    const r = { stdout: a.stdout ?? '', stderr: a.stderr ?? '', code: a.code ?? 0 };
    if (r.code !== 0 && !opts.allowFail) throw new RemoteError(name, cmd, r.code, r.stderr);
    return r;
  };
  const none = async () => {
    throw new Error('not used by preflight');
  };
  return {
    seen,
    host: { name, sudo, exec, upload: none, download: none, background: none, forward: none, close: async () => {} },
  };
}

const serverAnswers = (v: Record<string, string>, runtime = 'runc'): [RegExp, Answer][] => [
  [/^echo "kernel=/, { stdout: probeOut(v) }],
  [/^podman info/, { stdout: `${runtime}\n` }],
];
const switchAnswers: [RegExp, Answer][] = [
  [/^echo "kernel=/, { stdout: probeOut({ kernel: '6.1.0', node: 'v20.11.1', ip: 'ip x', nft: 'nftables v1.0.6' }) }],
];

async function runPreflight(fakes: Partial<Record<HostName, Fake>>, env: Record<string, string> = {}) {
  const loaded = loadConfig({ cwd: projectDir, env });
  const versions: Record<string, Record<string, string>> = {};
  const manifest = {
    setVersions: (h: string, v: Record<string, string>) => {
      versions[h] = { ...versions[h], ...v };
    },
  } as unknown as ManifestHandle;
  const log = createLogger({ silent: true });
  const ctx = createContext({
    loaded,
    dir: mkdtempSync(join(tmpdir(), 'p4pf-')),
    log,
    cleanup: createCleanup({ log }),
    state: openState(),
    manifest,
    makeHost: (n) => (fakes[n] ?? fakeHost(n, n === 'tofino' ? switchAnswers : serverAnswers(GOOD_SERVER))).host,
  });
  const error = await preflight.run(ctx).then(
    () => undefined,
    (e: Error) => e,
  );
  return { error, versions };
}

describe('preflight', () => {
  it('passes lab-like hosts and records versions and the runtime per host', async () => {
    const r = await runPreflight({});
    expect(r.error).toBeUndefined();
    expect(r.versions.lakewood).toMatchObject({ node: 'v20.11.1', criu: 'Version: 4.2', runtime: 'runc (runc version 1.1.5)' });
  });

  it('WORKLOAD=redis: refuses a lakewood without redis-server, naming the file and the package', async () => {
    const noRedis = fakeHost('lakewood', [[/^test -x '?\/usr\/bin\/redis-server/, { code: 1 }], ...serverAnswers(GOOD_SERVER)]);
    const r = await runPreflight({ lakewood: noRedis }, { WORKLOAD: 'redis' });
    expect(r.error?.message).toMatch(
      /lakewood:\n\s+- \/usr\/bin\/redis-server is missing: WORKLOAD=redis builds its server image from it \(.*redis-server/,
    );
    expect(noRedis.seen.some((x) => x.cmd.startsWith('test -x'))).toBe(true);
    // the stream workload builds from node, which the tool probe checks already: no extra check
    const stream = fakeHost('lakewood', serverAnswers(GOOD_SERVER));
    expect((await runPreflight({ lakewood: stream })).error).toBeUndefined();
    expect(stream.seen.some((x) => x.cmd.startsWith('test -x'))).toBe(false);
  });

  it('accepts crun when podman is configured with it and runc is not installed', async () => {
    const crunServer = {
      ...GOOD_SERVER,
      runc: 'MISSING',
      crun: 'crun version 1.8.1 +SYSTEMD +SELINUX +CAP +SECCOMP +EBPF +CRIU +YAJL ',
    };
    const fakes = {
      lakewood: fakeHost('lakewood', serverAnswers(crunServer, 'crun')),
      loveland: fakeHost('loveland', serverAnswers(crunServer, 'crun')),
    };
    const r = await runPreflight(fakes);
    expect(r.error).toBeUndefined();
    expect(r.versions.lakewood.runtime).toMatch(/^crun \(crun version 1\.8\.1 .*\+CRIU/);
    expect(r.versions.loveland.runtime).toMatch(/^crun/);
  });

  it('refuses a runtime that cannot checkpoint: crun without CRIU, an unknown runtime, the configured one missing', async () => {
    const noCriu = { ...GOOD_SERVER, runc: 'MISSING', crun: 'crun version 1.8.1 +SYSTEMD -CRIU +YAJL' };
    const r = await runPreflight({
      lakewood: fakeHost('lakewood', serverAnswers(noCriu, 'crun')),
      loveland: fakeHost('loveland', serverAnswers(GOOD_SERVER, 'kata')),
    });
    expect(r.error?.message).toMatch(/lakewood:\n.*crun was built without CRIU support \(-CRIU\)/);
    expect(r.error?.message).toMatch(/loveland:\n.*podman's OCI runtime is "kata"/);
    expect(versionProblems('server', { ...GOOD_SERVER, runc: 'MISSING' }, 'runc')).toEqual([
      'podman is configured with runc, but runc is not in PATH',
    ]);
  });

  it('checks Node.js, podman and CRIU versions on every host, and names each', async () => {
    const old = { ...GOOD_SERVER, node: 'v18.19.0', criu: 'Version: 3.17.1', podman: 'podman version 3.4.4' };
    const r = await runPreflight({
      lakewood: fakeHost('lakewood', serverAnswers(old)),
      tofino: fakeHost('tofino', [
        [/^echo "kernel=/, { stdout: probeOut({ kernel: '6.1', node: 'MISSING', ip: 'x', nft: 'x' }) }],
      ]),
    });
    const m = r.error?.message ?? '';
    expect(m).toMatch(/preflight failed on tofino, lakewood/);
    expect(m).toMatch(/tofino:\n\s+- missing tool: node/);
    expect(m).toMatch(/node 18\.19\.0 is too old: the stream server and the load generator needs >= 20/);
    expect(m).toMatch(/criu 3\.17\.1 is too old/);
    expect(m).toMatch(/podman 3\.4\.4 is too old/);
    expect(m).not.toMatch(/loveland/);
    expect(versionOf('Version: 4.2')).toEqual([4, 2]);
    expect(versionProblems('server', { ...GOOD_SERVER, criu: 'Version: 4.10' })).toEqual([]);
  });

  it('a non-root login without passwordless sudo: names the host, the user and the sudoers line, probes nothing more there', async () => {
    const lw = fakeHost(
      'lakewood',
      [[/^sudo -n true$/, { code: 1, stderr: 'sudo: a password is required\n' }], ...serverAnswers(GOOD_SERVER)],
      true,
    );
    const r = await runPreflight({ lakewood: lw }, { LAKEWOOD_SSH: 'lab@10.199.0.3:22' });
    expect(r.error?.message).toMatch(
      /preflight failed on lakewood:\n\s+lakewood:\n\s+- user lab cannot run commands as root without a password \(sudo -n true: sudo: a password is required\)/,
    );
    expect(r.error?.message).toContain('"lab ALL=(ALL) NOPASSWD: ALL"');
    expect(r.error?.message).toContain('/etc/sudoers.d/p4cf');
    // sudo -n true itself runs as the login user; nothing else was tried on that host
    expect(lw.seen).toEqual([{ cmd: 'sudo -n true', sudo: false }]);
  });

  it('with working sudo every probe runs through sudo -n', async () => {
    const lw = fakeHost('lakewood', serverAnswers(GOOD_SERVER), true);
    const r = await runPreflight({ lakewood: lw }, { LAKEWOOD_SSH: 'lab@10.199.0.3:22' });
    expect(r.error).toBeUndefined();
    expect(lw.seen[0]).toEqual({ cmd: 'sudo -n true', sudo: false });
    expect(lw.seen.slice(1).every((s) => s.sudo)).toBe(true);
  });

  it('a dry run of a non-root config plans sudo -n true and sudo -n on that host only (config → context → host)', async () => {
    const loaded = loadConfig({ cwd: projectDir, env: { LAKEWOOD_SSH: 'lab@10.199.0.3:22' } });
    const lines: string[] = [];
    const log = createLogger({ silent: true });
    const ctx = createContext({
      loaded,
      dir: '/nonexistent',
      log,
      cleanup: createCleanup({ log }),
      state: openState(),
      dryRun: true,
      print: (l) => lines.push(l),
    });
    await preflight.run(ctx);
    const plan = ctx.plan!.byHost();
    expect(plan.lakewood[0]).toBe('sudo -n true');
    expect(plan.lakewood.slice(1).every((c) => c.startsWith('sudo -n '))).toBe(true);
    expect(plan.loveland.some((c) => c.includes('sudo'))).toBe(false);
    const never = createContext({
      loaded: loadConfig({ cwd: projectDir, env: { LAKEWOOD_SSH: 'lab@10.199.0.3:22', SUDO: 'never' } }),
      dir: '/nonexistent',
      log,
      cleanup: createCleanup({ log }),
      state: openState(),
      dryRun: true,
      print: () => {},
    });
    await preflight.run(never);
    expect(never.plan!.byHost().lakewood.some((c) => c.includes('sudo'))).toBe(false);
  });

  it('SUDO=auto uses sudo for a non-root login only; always and never as named', () => {
    expect(usesSudo('auto', 'root')).toBe(false);
    expect(usesSudo('auto', 'lab')).toBe(true);
    expect(usesSudo('always', 'root')).toBe(true);
    expect(usesSudo('never', 'lab')).toBe(false);
  });
});
