// The local testbed and the prerequisite logic. Decision logic is tested as plain functions; the
// testbed itself is brought up for real (namespaces, veths, sshd) under the p4tb- prefix on its own
// management subnet and state dir, used over SSH with pinned host keys, repaired, and torn down twice.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import {
  compareVersions,
  CRIU_INSTALL_DIR,
  decideCriu,
  manualInstructions,
  mergeCriuConf,
  missingPackages,
  parseCriuVersion,
  parseOsRelease,
  type PrereqPlan,
} from '../lib/modes/local/prereqs.ts';
import { createSshHost } from '../lib/hosts/ssh.ts';
import type { Host } from '../lib/hosts/types.ts';
import {
  mergeKnownHosts,
  mgmtAddresses,
  switchPortIfaces,
  testbedDown,
  testbedLayout,
  testbedStatus,
  testbedUp,
  testbedHosts,
  type TestbedConfig,
  type TestbedHostName,
} from '../lib/modes/local/testbed.ts';
import { isRoot } from './helpers/env.ts';

const P = 'p4tb-';
const SUBNET = '10.198.4.0/24';

function testConfig(dir: string, extra: Record<string, string> = {}): TestbedConfig {
  return loadConfig({
    cwd: dir, // no config.env there: defaults + these overrides only
    env: {
      TESTBED_PREFIX: P,
      MGMT_SUBNET: SUBNET,
      TOFINO_SSH: 'root@10.198.4.2:22',
      LAKEWOOD_SSH: 'root@10.198.4.3:22',
      LOVELAND_SSH: 'root@10.198.4.4:22',
      SSH_KEY: join(dir, 'ssh/id_ed25519'),
      SSH_KNOWN_HOSTS: join(dir, 'ssh/known_hosts'),
      LAKEWOOD_NIC: `${P}nic`,
      LOVELAND_NIC: `${P}nic`,
      LAKEWOOD_DIRECT_IF: `${P}direct`,
      LOVELAND_DIRECT_IF: `${P}direct`,
      ...extra,
    },
  }).config;
}

// ---------------------------------------------------------------------------------------------

describe('prerequisite decisions', () => {
  it('compares versions numerically, missing parts as zero', () => {
    expect(compareVersions('4.2.1', '4.2')).toBe(1);
    expect(compareVersions('4.2', '4.2.0')).toBe(0);
    expect(compareVersions('4.1.1', '4.2')).toBe(-1);
    expect(compareVersions('3.17.1', '4.2')).toBe(-1);
    expect(compareVersions('4.10', '4.9')).toBe(1);
  });

  it('reads the version from criu --version', () => {
    expect(parseCriuVersion('Version: 4.2.1\n')).toBe('4.2.1');
    expect(parseCriuVersion('Version: 3.17.1\nGitID: v3.17.1\n')).toBe('3.17.1');
    expect(parseCriuVersion('criu: command not found')).toBeUndefined();
  });

  it('builds CRIU when missing, too old or failing, but does not loop on our own failing build', () => {
    expect(decideCriu({}).action).toBe('build');
    expect(decideCriu({ version: '3.17.1', path: '/usr/sbin/criu', checkOk: false }).action).toBe('build');
    expect(decideCriu({ version: '4.1.1', path: '/usr/local/sbin/criu', checkOk: true }).action).toBe('build');
    expect(decideCriu({ version: '4.2.1', path: '/usr/local/sbin/criu', checkOk: true }).action).toBe('ok');
    expect(decideCriu({ version: '4.3', path: '/opt/criu/criu', checkOk: false }).action).toBe('build');
    const own = decideCriu({
      version: '4.2.1',
      path: join(CRIU_INSTALL_DIR, 'criu'),
      checkOk: false,
      checkOutput: 'Error: vdso bad',
    });
    expect(own.action).toBe('fail');
    expect(own.reason).toContain('vdso bad');
  });

  it('finds missing packages from dpkg-query output', () => {
    const out = 'podman installed\nrunc installed\nsocat not-installed\nlibc6:amd64 installed\n';
    expect(missingPackages(out, ['podman', 'runc', 'socat', 'ethtool', 'libc6'])).toEqual(['socat', 'ethtool']);
  });

  it('merges CRIU settings without clobbering other lines', () => {
    expect(mergeCriuConf('')).toBe('network-lock nftables\nskip-in-flight\n');
    const mixed = '# keep me\ntcp-established\nnetwork-lock iptables\n';
    expect(mergeCriuConf(mixed)).toBe('# keep me\ntcp-established\nnetwork-lock nftables\nskip-in-flight\n');
    const done = 'log-file /tmp/x\nnetwork-lock nftables\nskip-in-flight\n';
    expect(mergeCriuConf(done)).toBe(done);
    expect(mergeCriuConf('#network-lock iptables\n')).toBe('#network-lock iptables\nnetwork-lock nftables\nskip-in-flight\n');
  });

  it('recognises Debian-like systems', () => {
    expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n').debianLike).toBe(true);
    expect(parseOsRelease('ID=ubuntu\nID_LIKE=debian\n').debianLike).toBe(true);
    expect(parseOsRelease('ID="fedora"\n').debianLike).toBe(false);
  });

  it('tells a user what to install by hand', () => {
    const plan: PrereqPlan = {
      missingPackages: ['socat'],
      criu: { action: 'build', reason: 'criu is not installed', probe: {} },
      criuConf: { path: '/etc/criu/default.conf', current: '', wanted: '' },
      podmanDropIn: true,
    };
    const text = manualInstructions(plan);
    expect(text).toContain('apt-get install -y socat');
    expect(text).toContain('apt-get source --download-only criu=4.2.1-1');
    expect(text).toContain('runtime = "runc"');
  });
});

describe('testbed layout', () => {
  const dir = '/nonexistent-p4tb';
  it('derives management addresses from MGMT_SUBNET', () => {
    expect(mgmtAddresses('10.199.0.0/24')).toMatchObject({
      control: '10.199.0.1',
      host: { tofino: '10.199.0.2', lakewood: '10.199.0.3', loveland: '10.199.0.4' },
    });
    expect(mgmtAddresses('10.199.0.0/24', ['a', 'b', 'c']).host).toEqual({
      tofino: '10.199.0.2',
      a: '10.199.0.3',
      b: '10.199.0.4',
      c: '10.199.0.5',
    });
    expect(() => mgmtAddresses('10.199.0.0/29', ['a', 'b', 'c', 'd', 'e'])).toThrow(/room for \.1-\.7 \(5 servers\)/);
    expect(() => mgmtAddresses('10.199.0.5/24')).toThrow(/host bits.*10\.199\.0\.0\/24/);
    expect(() => mgmtAddresses('10.199.0.0/30')).toThrow(/prefix length/);
  });

  it('rejects SSH targets that disagree with MGMT_SUBNET, naming key and fix', () => {
    const c = testConfig(tmpdir(), { LAKEWOOD_SSH: 'root@10.198.4.9:22' });
    expect(() => testbedLayout(c)).toThrow(
      /LAKEWOOD_SSH is root@10\.198\.4\.9:22.*lakewood at 10\.198\.4\.3.*LAKEWOOD_SSH=root@10\.198\.4\.3:22/,
    );
  });

  it('names switch ports after their dev port', () => {
    const c = testConfig(tmpdir());
    expect(switchPortIfaces(c)).toEqual({ 140: 'p4tb-p140', 148: 'p4tb-p148' });
    const L = testbedLayout(c, { projectDir: dir });
    expect(L.hosts.map((h) => h.ns)).toEqual(['p4tb-tofino', 'p4tb-lakewood', 'p4tb-loveland']);
    expect(L.veths.every((v) => v.a.ifname.length <= 15 && v.b.ifname.length <= 15)).toBe(true);
  });

  it('replaces only our known_hosts lines', () => {
    const before = 'github.com ssh-ed25519 AAAA\n10.198.4.3 ssh-ed25519 OLD\n[10.198.4.3]:2222 ssh-ed25519 KEEP\n';
    const after = mergeKnownHosts(before, ['10.198.4.3'], ['10.198.4.3 ssh-ed25519 NEW']);
    expect(after).toBe('github.com ssh-ed25519 AAAA\n[10.198.4.3]:2222 ssh-ed25519 KEEP\n10.198.4.3 ssh-ed25519 NEW\n');
  });
});

// ---------------------------------------------------------------------------------------------

if (!isRoot)
  console.warn('SKIPPED local testbed up/down tests: they need root (network namespaces, veths, sshd); run the tests as root');

const sh = (argv: string[]): string => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });
const shOk = (argv: string[]): boolean => {
  try {
    execFileSync(argv[0], argv.slice(1), { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const ourNamespaces = (): string[] =>
  sh(['ip', 'netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(P));
const ourRootLinks = (): string[] =>
  (JSON.parse(sh(['ip', '-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith(P));
/** Running and not a zombie (a daemon's reaper may be slow). */
function running(pid: number): boolean {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st[st.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
/** PIDs of processes whose command line names our state dir (our sshd). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const p of sh(['ls', '/proc'])
    .split('\n')
    .filter((x) => /^\d+$/.test(x))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir) && running(Number(p))) pids.push(Number(p));
    } catch {
      /* exited */
    }
  }
  return pids;
}

describe.skipIf(!isRoot)('local testbed (root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p4tb-testbed-'));
  const stateDir = join(dir, 'state');
  const config = testConfig(dir);
  const opts = { projectDir: dir, stateDir, log: (m: string) => console.log(`[testbed] ${m}`) };
  const L = testbedLayout(config, opts);
  let hosts: Partial<Record<TestbedHostName, Host>> = {};
  const decoyNs = `${P}decoy`;

  const host = (name: TestbedHostName): Host =>
    (hosts[name] ??= createSshHost({
      name,
      target: L.hosts.find((h) => h.name === name)!.ssh,
      privateKeyPath: L.sshKey,
      knownHostsPath: L.knownHosts,
      connectTimeoutMs: 5000,
    }));
  const closeHosts = async (): Promise<void> => {
    await Promise.all(Object.values(hosts).map((h) => h!.close()));
    hosts = {};
  };

  beforeAll(() => {
    if (ourNamespaces().length)
      throw new Error(`leftover ${P} namespaces from an earlier run: ${ourNamespaces().join(', ')}; remove them first`);
  });

  afterAll(async () => {
    await closeHosts();
    await testbedDown(config, opts).catch((e) => console.warn(`cleanup: ${(e as Error).message}`));
    shOk(['ip', 'netns', 'del', decoyNs]);
    shOk(['podman', 'network', 'rm', '-f', `${P}testnet`]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes up, and every host answers over SSH with a pinned host key, by name', async () => {
    const r = await testbedUp(config, opts);
    expect(r.created).toContain(`namespace ${P}lakewood`);
    expect(existsSync(L.knownHosts)).toBe(true);
    for (const name of testbedHosts(config)) {
      const h = L.hosts.find((x) => x.name === name)!;
      const out = await host(name).exec(`echo "$P4CF_HOST"; ip -o -4 addr show dev ${h.nsVeth}`, { quiet: true });
      expect(out.stdout.split('\n')[0]).toBe(name);
      expect(out.stdout).toContain(`${h.mgmtIp}/24`);
      // management only: no default route that could carry data traffic around the switch
      expect((await host(name).exec('ip route show default', { quiet: true })).stdout.trim()).toBe('');
      expect((await host(name).exec('ip -o link show lo', { quiet: true })).stdout).toMatch(/<[^>]*\bUP\b/);
    }
    // and the control machine never routes into or out of the management bridge
    const guard = sh(['nft', 'list', 'table', 'inet', L.nftTable]);
    expect(guard).toMatch(new RegExp(`iifname "${L.bridge.name}".*drop`));
    expect(guard).toMatch(new RegExp(`oifname "${L.bridge.name}".*drop`));
    const s = await testbedStatus(config, opts);
    expect(s.ok).toBe(true);
  });

  it('runs podman inside an SSH session (host mount namespace kept, runc runtime)', async () => {
    const out = await host('lakewood').exec(`podman info --format '{{.Host.OCIRuntime.Name}}'`, {
      quiet: true,
      timeoutMs: 60_000,
    });
    expect(out.stdout.trim()).toBe('runc');
  });

  it('connects the servers directly for checkpoint transfer', async () => {
    const r = await host('lakewood').exec(`ping -c 2 -i 0.2 -W 2 ${config.LOVELAND_DIRECT_IP}`, { quiet: true });
    expect(r.stdout).toMatch(/2 received/);
  });

  it('cables each server NIC to its switch port in the tofino namespace', () => {
    for (const p of L.switchPorts) {
      const peer = /peer_ifindex:\s*(\d+)/.exec(
        sh(['nsenter', `--net=/run/netns/${P}${p.host}`, 'ethtool', '-S', p.hostIf]),
      )?.[1];
      const [sw] = JSON.parse(sh(['ip', '-n', `${P}tofino`, '-j', 'link', 'show', p.swIf])) as {
        ifindex: number;
        operstate: string;
        addr_info?: unknown[];
      }[];
      expect(Number(peer)).toBe(sw.ifindex);
      expect(sw.operstate).toBe('UP');
      const addrs = JSON.parse(sh(['ip', '-n', `${P}tofino`, '-j', 'addr', 'show', 'dev', p.swIf])) as { addr_info: unknown[] }[];
      expect(addrs[0].addr_info).toEqual([]); // a switch port is a wire, no addresses
    }
  });

  it('lets data between the server NICs pass only through the switch namespace', async () => {
    const [lw, lv] = L.switchPorts;
    sh(['ip', '-n', `${P}lakewood`, 'addr', 'add', '192.0.2.1/24', 'dev', lw.hostIf]);
    sh(['ip', '-n', `${P}loveland`, 'addr', 'add', '192.0.2.2/24', 'dev', lv.hostIf]);
    // up to 3 echoes: the first may be spent re-resolving ARP after the failed attempt (exit 0 = any reply)
    const ping = () => host('lakewood').exec('ping -c 3 -i 0.2 -W 1 192.0.2.2', { quiet: true, allowFail: true });
    expect((await ping()).code).not.toBe(0); // no switch program: nothing forwards
    // the smallest "switch program": an nftables netdev wire between the two ports, as the model uses
    const nft = (input: string) => execFileSync('nsenter', [`--net=/run/netns/${P}tofino`, 'nft', '-f', '-'], { input });
    nft(
      [
        'table netdev p4tb_wire {',
        ...[
          [lw.swIf, lv.swIf],
          [lv.swIf, lw.swIf],
        ].map(
          ([from, to]) =>
            `  chain ${from.replace(/-/g, '_')} { type filter hook ingress device "${from}" priority 0; policy accept; fwd to "${to}"; }`,
        ),
        '}',
      ].join('\n'),
    );
    expect((await ping()).code).toBe(0);
    nft('delete table netdev p4tb_wire\n');
    expect((await ping()).code).not.toBe(0);
    sh(['ip', '-n', `${P}lakewood`, 'addr', 'del', '192.0.2.1/24', 'dev', lw.hostIf]);
    sh(['ip', '-n', `${P}loveland`, 'addr', 'del', '192.0.2.2/24', 'dev', lv.hostIf]);
  });

  it('repairs: a second up changes nothing, a lost link and a killed sshd come back', async () => {
    const again = await testbedUp(config, { ...opts, prerequisites: false });
    expect(again.created).toEqual([]);
    await closeHosts();
    const oldPid = again.sshdPids.lakewood;
    process.kill(oldPid, 'SIGKILL');
    sh(['ip', '-n', `${P}tofino`, 'link', 'del', `${P}p148`]);
    expect((await testbedStatus(config, opts)).ok).toBe(false);
    const repaired = await testbedUp(config, { ...opts, prerequisites: false });
    expect(repaired.created).toEqual(['switch port 148 ↔ loveland']);
    expect(repaired.sshdPids.lakewood).not.toBe(oldPid);
    expect((await host('lakewood').exec('echo "$P4CF_HOST"', { quiet: true })).stdout.trim()).toBe('lakewood');
    expect((await testbedStatus(config, opts)).ok).toBe(true);
  });

  it('repairs a host whose namespace was deleted under its running sshd', async () => {
    await closeHosts();
    const stalePid = (await testbedUp(config, { ...opts, prerequisites: false })).sshdPids.loveland;
    sh(['ip', 'netns', 'del', `${P}loveland`]);
    const r = await testbedUp(config, { ...opts, prerequisites: false });
    expect(r.created).toEqual(
      expect.arrayContaining([
        `namespace ${P}loveland`,
        'mgmt loveland',
        'switch port 148 ↔ loveland',
        'direct lakewood ↔ loveland',
      ]),
    );
    expect(r.sshdPids.loveland).not.toBe(stalePid);
    expect(running(stalePid)).toBe(false); // the stale daemon was stopped, not left behind
    expect((await host('loveland').exec('echo "$P4CF_HOST"', { quiet: true })).stdout.trim()).toBe('loveland');
    const ping = await host('lakewood').exec(`ping -c 1 -W 2 ${config.LOVELAND_DIRECT_IP}`, { quiet: true, allowFail: true });
    expect(ping.code).toBe(0);
  });

  it('grows to three servers on a direct bridge, back to the two-server cable; down removes the third', async () => {
    await closeHosts();
    const three = testConfig(dir, {
      SERVERS: 'lakewood,loveland,boulder',
      BOULDER_NIC: `${P}nic`,
      BOULDER_DIRECT_IF: `${P}direct`,
    });
    const r3 = await testbedUp(three, { ...opts, prerequisites: false });
    expect(r3.created).toEqual(
      expect.arrayContaining([
        `namespace ${P}boulder`,
        'switch port 156 ↔ boulder',
        `bridge ${P}direct`,
        `direct boulder ↔ bridge ${P}direct`,
      ]),
    );
    const ping = (from: string, ip: string) => shOk(['ip', 'netns', 'exec', `${P}${from}`, 'ping', '-c', '1', '-W', '2', ip]);
    expect(ping('boulder', three.LOVELAND_DIRECT_IP), 'boulder → loveland over the bridge').toBe(true);
    expect(ping('lakewood', three.BOULDER_DIRECT_IP), 'lakewood → boulder over the bridge').toBe(true);
    const r2 = await testbedUp(config, { ...opts, prerequisites: false });
    expect(r2.created).toContain('direct lakewood ↔ loveland');
    expect(sh(['ip', '-n', `${P}tofino`, '-o', 'link', 'show'])).not.toContain(`${P}direct`);
    expect(ping('lakewood', config.LOVELAND_DIRECT_IP), 'lakewood → loveland on the cable').toBe(true);
    // boulder is still there (up removes nothing it is not asked about); the next test's down removes it
    expect(ourNamespaces()).toContain(`${P}boulder`);
  });

  it('goes down completely, leaving what it did not create', async () => {
    await closeHosts();
    sh(['ip', 'netns', 'add', decoyNs]); // same prefix, not ours: must survive
    shOk(['podman', 'network', 'create', `${P}testnet`]); // prefix-named podman network: removed
    const r = await testbedDown(config, opts);
    expect(r.removed).toContain(`namespace ${P}tofino`);
    expect(ourNamespaces()).toEqual([decoyNs]);
    expect(ourRootLinks()).toEqual([]);
    expect(processesUsing(stateDir)).toEqual([]);
    expect(shOk(['nft', 'list', 'table', 'inet', L.nftTable])).toBe(false);
    expect(sh(['podman', 'network', 'ls', '--format', '{{.Name}}']).split('\n')).not.toContain(`${P}testnet`);
    expect((await testbedDown(config, opts)).removed).toEqual([]); // idempotent
    sh(['ip', 'netns', 'del', decoyNs]);
  });

  it('cycles up and down a second time in the same process', async () => {
    await testbedUp(config, { ...opts, prerequisites: false });
    expect((await host('loveland').exec('echo "$P4CF_HOST"', { quiet: true })).stdout.trim()).toBe('loveland');
    await closeHosts();
    await testbedDown(config, opts);
    expect(ourNamespaces()).toEqual([]);
    expect(ourRootLinks()).toEqual([]);
    expect(processesUsing(stateDir)).toEqual([]);
  });
});
