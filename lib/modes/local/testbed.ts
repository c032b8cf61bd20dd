// The local testbed: the switch and the two servers as network namespaces on this machine, each
// with its own OpenSSH server, so every phase talks to them over SSH exactly as to real machines.
//
//   root namespace (control machine)          ${P}tofino                 ${P}lakewood / ${P}loveland
//   bridge ${P}mgmt  .1  ── ${P}m<host> ══════ ${P}mgmt .2     ...       ${P}mgmt .3 / .4   (SSH, metrics)
//                                              ${P}p140 ═══════════════ LAKEWOOD_NIC         (data path)
//                                              ${P}p148 ═══════════════ LOVELAND_NIC
//                                                     lakewood LAKEWOOD_DIRECT_IF ═ LOVELAND_DIRECT_IF loveland
//                                                                                  (checkpoint transfer)
// Every name starts with TESTBED_PREFIX, so tests (p4tb-) and real runs (p4cf-) never meet, and
// `down` removes exactly what `up` made. `up` is a repair: it checks each piece and makes what is missing.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/keys.ts';
import { ensurePrerequisites } from './prereqs.ts';
import { run } from '../../hosts/run-local.ts';
import { showCommand } from '../../hosts/quote.ts';

export type TestbedConfig = Pick<Config,
  | 'TESTBED_PREFIX' | 'MGMT_SUBNET' | 'TOFINO_SSH' | 'LAKEWOOD_SSH' | 'LOVELAND_SSH' | 'SSH_KEY' | 'SSH_KNOWN_HOSTS'
  | 'LAKEWOOD_NIC' | 'LOVELAND_NIC' | 'LAKEWOOD_SW_PORT' | 'LOVELAND_SW_PORT'
  | 'LAKEWOOD_DIRECT_IF' | 'LOVELAND_DIRECT_IF' | 'LAKEWOOD_DIRECT_IP' | 'LOVELAND_DIRECT_IP'>;

export type TestbedHostName = 'tofino' | 'lakewood' | 'loveland';
export const TESTBED_HOSTS: readonly TestbedHostName[] = ['tofino', 'lakewood', 'loveland'];

export interface TestbedOptions {
  log?: (msg: string) => void;
  /** Repo root; relative SSH_KEY / SSH_KNOWN_HOSTS are resolved against it. Default: this repository. */
  projectDir?: string;
  /** Where PIDs, sshd configs and host keys live. Default `<projectDir>/.testbed`. */
  stateDir?: string;
  /** Run ensurePrerequisites first (default true). */
  prerequisites?: boolean;
}

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const NETNS_DIR = '/run/netns';
const SWITCH_PORT_MTU = 9216; // like a real switch port: never the bottleneck when the build raises NIC_MTU
const SSHD_READY_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// layout (pure)

export interface HostLayout {
  name: TestbedHostName;
  ns: string;
  mgmtIp: string;
  ssh: { user: string; host: string; port: number };
  /** Root-namespace end of the management veth (enslaved to the bridge). */
  rootVeth: string;
  /** Namespace end of the management veth. */
  nsVeth: string;
  dir: string;
}
export interface VethSpec {
  label: string;
  a: { ns?: string; ifname: string };
  b: { ns?: string; ifname: string };
}
export interface TestbedLayout {
  prefix: string;
  hosts: HostLayout[];
  bridge: { name: string; ip: string; prefixLen: number; subnet: string };
  switchPorts: { devPort: number; swIf: string; host: TestbedHostName; hostIf: string }[];
  direct: { lakewood: { ifname: string; ip: string }; loveland: { ifname: string; ip: string } };
  veths: VethSpec[];
  nftTable: string;
  stateDir: string;
  sshKey: string;
  knownHosts: string;
}

/** Bad testbed configuration; the message names the key, the value and what is expected. */
export class TestbedError extends Error {
  constructor(message: string) { super(message); this.name = 'TestbedError'; }
}

const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** The management addresses MGMT_SUBNET implies: .1 this machine, .2 tofino, .3 lakewood, .4 loveland. */
export function mgmtAddresses(subnet: string): { control: string; tofino: string; lakewood: string; loveland: string; prefixLen: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet);
  if (!m) throw new TestbedError(`MGMT_SUBNET ${JSON.stringify(subnet)}: expected an IPv4 prefix such as 10.199.0.0/24`);
  const len = Number(m[2]);
  if (len < 8 || len > 29) throw new TestbedError(`MGMT_SUBNET ${subnet}: expected a prefix length between /8 and /29 (room for .1-.4)`);
  const net = ipToInt(m[1]) - (ipToInt(m[1]) % 2 ** (32 - len));
  if (net !== ipToInt(m[1])) throw new TestbedError(`MGMT_SUBNET ${subnet}: host bits are set; expected the network address ${intToIp(net)}/${len}`);
  return { control: intToIp(net + 1), tofino: intToIp(net + 2), lakewood: intToIp(net + 3), loveland: intToIp(net + 4), prefixLen: len };
}

/** Switch-side interface of each server port, keyed by dev port: the switch model binds these. */
export function switchPortIfaces(config: Pick<TestbedConfig, 'TESTBED_PREFIX' | 'LAKEWOOD_SW_PORT' | 'LOVELAND_SW_PORT'>): Record<number, string> {
  return {
    [config.LAKEWOOD_SW_PORT]: `${config.TESTBED_PREFIX}p${config.LAKEWOOD_SW_PORT}`,
    [config.LOVELAND_SW_PORT]: `${config.TESTBED_PREFIX}p${config.LOVELAND_SW_PORT}`,
  };
}

/** Dev port encoded in a switch-side interface name (`p4cf-p140` → 140), or undefined. */
export function devPortOfIface(prefix: string, ifname: string): number | undefined {
  const m = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}p(\\d+)$`).exec(ifname);
  return m ? Number(m[1]) : undefined;
}

/** Network namespace of a testbed host, e.g. `p4cf-lakewood`; its path is `/run/netns/<name>`. */
export const hostNamespace = (config: Pick<TestbedConfig, 'TESTBED_PREFIX'>, host: TestbedHostName): string => `${config.TESTBED_PREFIX}${host}`;

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function testbedLayout(config: TestbedConfig, opts: Pick<TestbedOptions, 'projectDir' | 'stateDir'> = {}): TestbedLayout {
  const P = config.TESTBED_PREFIX;
  if (!/^[a-z0-9]{1,5}-$/.test(P)) throw new TestbedError(`TESTBED_PREFIX ${JSON.stringify(P)}: expected 1-5 lowercase letters/digits and a dash, e.g. p4cf-`);
  const projectDir = opts.projectDir ?? REPO_DIR;
  const stateDir = resolve(projectDir, opts.stateDir ?? '.testbed');
  const addrs = mgmtAddresses(config.MGMT_SUBNET);
  const keyOf: Record<TestbedHostName, 'TOFINO_SSH' | 'LAKEWOOD_SSH' | 'LOVELAND_SSH'> = { tofino: 'TOFINO_SSH', lakewood: 'LAKEWOOD_SSH', loveland: 'LOVELAND_SSH' };
  const hosts = TESTBED_HOSTS.map((name): HostLayout => {
    const ssh = config[keyOf[name]];
    if (ssh.host !== addrs[name]) {
      throw new TestbedError(`${keyOf[name]} is ${ssh.user}@${ssh.host}:${ssh.port}, but MGMT_SUBNET ${config.MGMT_SUBNET} puts ${name} at ${addrs[name]}: ` +
        `set ${keyOf[name]}=${ssh.user}@${addrs[name]}:${ssh.port} or change MGMT_SUBNET`);
    }
    return { name, ns: hostNamespace(config, name), mgmtIp: addrs[name], ssh, rootVeth: `${P}m${name}`, nsVeth: `${P}mgmt`, dir: join(stateDir, `${P}hosts`, name) };
  });
  for (const k of ['LAKEWOOD_NIC', 'LOVELAND_NIC', 'LAKEWOOD_DIRECT_IF', 'LOVELAND_DIRECT_IF'] as const) {
    if (!IFNAME.test(config[k])) throw new TestbedError(`${k} ${JSON.stringify(config[k])}: expected an interface name of 1-15 letters, digits, _ . -`);
    if (config[k] === `${P}mgmt` || config[k] === 'lo') throw new TestbedError(`${k} ${config[k]}: that name is taken by the testbed's ${config[k] === 'lo' ? 'loopback' : 'management'} interface`);
  }
  for (const h of ['LAKEWOOD', 'LOVELAND'] as const) {
    if (config[`${h}_NIC`] === config[`${h}_DIRECT_IF`]) throw new TestbedError(`${h}_NIC and ${h}_DIRECT_IF are both ${config[`${h}_NIC`]}: expected two different interface names`);
  }
  if (config.LAKEWOOD_SW_PORT === config.LOVELAND_SW_PORT) throw new TestbedError(`LAKEWOOD_SW_PORT and LOVELAND_SW_PORT are both ${config.LAKEWOOD_SW_PORT}: expected two different dev ports`);
  const d1 = config.LAKEWOOD_DIRECT_IP;
  const d2 = config.LOVELAND_DIRECT_IP;
  if (d1 === d2 || ipToInt(d1) >>> 8 !== ipToInt(d2) >>> 8) {
    throw new TestbedError(`LAKEWOOD_DIRECT_IP ${d1} and LOVELAND_DIRECT_IP ${d2}: expected two different addresses in one /24`);
  }
  const ns = (h: TestbedHostName): string => hostNamespace(config, h);
  const ports = switchPortIfaces(config);
  const switchPorts = [
    { devPort: config.LAKEWOOD_SW_PORT, swIf: ports[config.LAKEWOOD_SW_PORT], host: 'lakewood' as const, hostIf: config.LAKEWOOD_NIC },
    { devPort: config.LOVELAND_SW_PORT, swIf: ports[config.LOVELAND_SW_PORT], host: 'loveland' as const, hostIf: config.LOVELAND_NIC },
  ];
  const veths: VethSpec[] = [
    ...hosts.map((h) => ({ label: `mgmt ${h.name}`, a: { ifname: h.rootVeth }, b: { ns: h.ns, ifname: h.nsVeth } })),
    ...switchPorts.map((p) => ({ label: `switch port ${p.devPort} ↔ ${p.host}`, a: { ns: ns('tofino'), ifname: p.swIf }, b: { ns: ns(p.host), ifname: p.hostIf } })),
    { label: 'direct lakewood ↔ loveland', a: { ns: ns('lakewood'), ifname: config.LAKEWOOD_DIRECT_IF }, b: { ns: ns('loveland'), ifname: config.LOVELAND_DIRECT_IF } },
  ];
  return {
    prefix: P,
    hosts,
    bridge: { name: `${P}mgmt`, ip: addrs.control, prefixLen: addrs.prefixLen, subnet: config.MGMT_SUBNET },
    switchPorts,
    direct: { lakewood: { ifname: config.LAKEWOOD_DIRECT_IF, ip: d1 }, loveland: { ifname: config.LOVELAND_DIRECT_IF, ip: d2 } },
    veths,
    nftTable: `${P.replace(/-$/, '')}_mgmt_guard`,
    stateDir,
    sshKey: resolve(projectDir, config.SSH_KEY),
    knownHosts: resolve(projectDir, config.SSH_KNOWN_HOSTS),
  };
}

/** known_hosts text with every line for `hostPatterns` replaced by `entries` (other lines kept). */
export function mergeKnownHosts(existing: string, hostPatterns: string[], entries: string[]): string {
  const ours = new Set(hostPatterns);
  const kept = existing.split('\n').filter((l) => l.trim() !== '' && !(l.split(/\s+/)[0] ?? '').split(',').some((h) => ours.has(h)));
  return `${[...kept, ...entries].join('\n')}\n`;
}

export const knownHostPattern = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`);

export function sshdConfigText(h: HostLayout, opts: { authorizedKeys: string; usePam: boolean }): string {
  return [
    `# Generated by p4cf lib/modes/local/testbed.ts for ${h.name} (network namespace ${h.ns}); rewritten on every \`up\`.`,
    `ListenAddress ${h.mgmtIp}:${h.ssh.port}`,
    `HostKey ${join(h.dir, 'ssh_host_ed25519_key')}`,
    `PidFile ${join(h.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${opts.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // pam_loginuid cannot write /proc/self/loginuid in this sandbox; PAM is only needed when the
    // account is locked with "!" (sshd without PAM refuses locked accounts).
    `UsePAM ${opts.usePam ? 'yes' : 'no'}`,
    // the keys live in the project folder, whose permissions sshd need not police
    'StrictModes no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding yes',
    // one node-ssh connection per host multiplexes many exec channels
    'MaxSessions 64',
    'MaxStartups 64:30:128',
    'ClientAliveInterval 15',
    'ClientAliveCountMax 4',
    'AcceptEnv LANG LC_* P4CF_*',
    // SHLVL=1 makes bash treat the session as nested, so it skips ~/.bashrc for non-interactive
    // ssh commands (Debian's bash sources it otherwise; root's pyenv init there costs ~150 ms a command)
    `SetEnv P4CF_HOST=${h.name} P4CF_NETNS=${h.ns} SHLVL=1`,
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// inspection helpers

interface LinkInfo { ifname: string; operstate: string; flags: string[]; master?: string; mtu: number }

async function netnsList(): Promise<Set<string>> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  const list = r.code === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]) : [];
  return new Set(list.map((n) => n.name));
}

async function links(ns?: string): Promise<Map<string, LinkInfo>> {
  const r = await run(['ip', ...(ns ? ['-n', ns] : []), '-j', 'link', 'show']);
  const arr = JSON.parse(r.stdout || '[]') as LinkInfo[];
  return new Map(arr.map((l) => [l.ifname, l]));
}

const ipn = (ns: string | undefined, ...args: string[]): string[] => ['ip', ...(ns ? ['-n', ns] : []), ...args];

function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch { return undefined; }
}

const netnsInode = (ns: string): number | undefined => {
  try { return statSync(join(NETNS_DIR, ns)).ino; } catch { return undefined; }
};

/**
 * The sshd we started for host h: `ours` when the recorded PID still runs our config (so it may be
 * signalled), `alive` when it also sits in the host's current namespace (a namespace deleted and
 * re-created under it leaves a stale daemon that must be replaced).
 */
function sshdProcess(h: HostLayout): { pid?: number; ours: boolean; alive: boolean; why?: string } {
  const pid = readPid(join(h.dir, 'sshd.pid'));
  if (!pid) return { ours: false, alive: false, why: 'no PID file' };
  let cmdline: string;
  try { cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '); } catch { return { pid, ours: false, alive: false, why: `PID ${pid} is gone` }; }
  if (!cmdline.includes(join(h.dir, 'sshd_config'))) return { pid, ours: false, alive: false, why: `PID ${pid} is not our sshd (${cmdline.slice(0, 60)})` };
  if (!pidAlive(pid)) return { pid, ours: false, alive: false, why: `PID ${pid} has exited` };
  let netLink = '';
  try { netLink = readlinkSync(`/proc/${pid}/ns/net`); } catch { /* raced with exit */ }
  const ino = netnsInode(h.ns);
  if (ino === undefined || netLink !== `net:[${ino}]`) return { pid, ours: true, alive: false, why: `PID ${pid} runs in a stale network namespace` };
  return { pid, ours: true, alive: true };
}

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => { clearTimeout(t); s.destroy(); res(ok); };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// A daemonized sshd is reparented to PID 1, which may reap late: a zombie counts as gone.
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch { return false; }
}

/** SIGTERM, wait (bounded), then SIGKILL. Only PIDs we recorded or found in our own namespaces. */
async function stopPids(pids: number[], graceMs = 2_000): Promise<void> {
  const live = pids.filter(pidAlive);
  for (const p of live) { try { process.kill(p, 'SIGTERM'); } catch { /* already gone */ } }
  const until = Date.now() + graceMs;
  while (Date.now() < until && live.some(pidAlive)) await sleep(25);
  for (const p of live.filter(pidAlive)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
}

function rootAccountLocked(): boolean {
  try {
    const line = readFileSync('/etc/shadow', 'utf8').split('\n').find((l) => l.startsWith('root:'));
    return (line?.split(':')[1] ?? '').startsWith('!');
  } catch { return false; }
}

function fileTail(path: string, bytes = 1500): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const size = statSync(path).size;
      const buf = Buffer.alloc(Math.min(bytes, size));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      return buf.toString().trim();
    } finally { closeSync(fd); }
  } catch { return ''; }
}

// ---------------------------------------------------------------------------------------------
// up

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new TestbedError(`${what} needs root (namespaces, links, sshd); run it as root`);
}

async function ensureKeys(L: TestbedLayout, log: (m: string) => void): Promise<string> {
  mkdirSync(dirname(L.sshKey), { recursive: true });
  if (!existsSync(L.sshKey)) {
    log(`generating client key ${L.sshKey}`);
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `p4cf-orchestrator`, '-f', L.sshKey]);
  }
  if (!existsSync(`${L.sshKey}.pub`)) {
    writeFileSync(`${L.sshKey}.pub`, (await run(['ssh-keygen', '-y', '-f', L.sshKey])).stdout);
  }
  const entries: string[] = [];
  for (const h of L.hosts) {
    mkdirSync(h.dir, { recursive: true });
    const hk = join(h.dir, 'ssh_host_ed25519_key');
    if (!existsSync(hk)) {
      log(`generating host key for ${h.name}`);
      await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `p4cf-${h.name}`, '-f', hk]);
    }
    const pub = readFileSync(`${hk}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    entries.push(`${knownHostPattern(h.mgmtIp, h.ssh.port)} ${pub}`);
  }
  mkdirSync(dirname(L.knownHosts), { recursive: true });
  const before = existsSync(L.knownHosts) ? readFileSync(L.knownHosts, 'utf8') : '';
  const after = mergeKnownHosts(before, L.hosts.map((h) => knownHostPattern(h.mgmtIp, h.ssh.port)), entries);
  if (after !== before) {
    writeFileSync(L.knownHosts, after);
    log(`pinned ${L.hosts.length} host keys in ${L.knownHosts}`);
  }
  const authorized = join(L.stateDir, `${L.prefix}hosts`, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${L.sshKey}.pub`, 'utf8'));
  return authorized;
}

async function ensureVeth(v: VethSpec, have: Map<string | undefined, Map<string, LinkInfo>>, log: (m: string) => void): Promise<boolean> {
  const aThere = have.get(v.a.ns)?.has(v.a.ifname) ?? false;
  const bThere = have.get(v.b.ns)?.has(v.b.ifname) ?? false;
  if (aThere && bThere) return false;
  // a lone end means its peer (or namespace) was lost: rebuild the pair from scratch
  if (aThere) await run(ipn(v.a.ns, 'link', 'del', v.a.ifname));
  if (bThere) await run(ipn(v.b.ns, 'link', 'del', v.b.ifname));
  await run(['ip', 'link', 'add', v.a.ifname, ...(v.a.ns ? ['netns', v.a.ns] : []), 'type', 'veth', 'peer', 'name', v.b.ifname, ...(v.b.ns ? ['netns', v.b.ns] : [])]);
  log(`created ${v.label}: ${v.a.ns ?? 'root'}/${v.a.ifname} ↔ ${v.b.ns ?? 'root'}/${v.b.ifname}${aThere || bThere ? ' (replaced a lone end)' : ''}`);
  return true;
}

async function ensureSshd(h: HostLayout, authorizedKeys: string, log: (m: string) => void): Promise<number> {
  const cfgPath = join(h.dir, 'sshd_config');
  const text = sshdConfigText(h, { authorizedKeys, usePam: rootAccountLocked() });
  const old = existsSync(cfgPath) ? readFileSync(cfgPath, 'utf8') : '';
  if (old !== text) writeFileSync(cfgPath, text);
  const proc = sshdProcess(h);
  if (proc.alive && old === text) return proc.pid!;
  if (proc.alive) {
    log(`restarting sshd on ${h.name} (config changed)`);
    await stopPids([proc.pid!]);
  } else if (proc.why !== 'no PID file') {
    log(`sshd on ${h.name} not running (${proc.why}): starting it`);
    if (proc.ours) await stopPids([proc.pid!]);
  }
  if (await tcpOpen(h.mgmtIp, h.ssh.port, 300)) {
    // another checkout's testbed (other state dir) holds the address: say so instead of a bind error
    const r = await run(['nsenter', `--net=${join(NETNS_DIR, h.ns)}`, 'ss', '-Hltnp', `sport = :${h.ssh.port}`], { allowFail: true });
    const holder = /pid=(\d+)/.exec(r.stdout)?.[1];
    let cmd = '';
    try { cmd = holder ? readFileSync(`/proc/${holder}/cmdline`, 'utf8').split('\0').join(' ').trim() : ''; } catch { /* exited meanwhile */ }
    throw new TestbedError(`[${h.name}] ${h.mgmtIp}:${h.ssh.port} in ${h.ns} is already served by a process this checkout did not start` +
      `${holder ? ` (PID ${holder}: ${cmd || 'unknown'})` : ''} — probably the testbed of another checkout. Run \`npx tsx experiments/testbed.ts down\`` +
      ` (it stops every process inside the ${h.ns.replace(h.name, '')}* namespaces), then up again.`);
  }
  // sshd refuses to start without its privilege-separation dir, which only the system unit creates
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  rmSync(join(h.dir, 'sshd.pid'), { force: true });
  const logFile = join(h.dir, 'sshd.log');
  // nsenter --net, not `ip netns exec`: the latter remounts /sys, and podman/runc in SSH sessions
  // then fail with "no cgroup mount found in mountinfo". Only the network namespace differs.
  const argv = ['nsenter', `--net=${join(NETNS_DIR, h.ns)}`, '/usr/sbin/sshd', '-f', cfgPath, '-E', logFile];
  const r = await run(argv, { allowFail: true, timeoutMs: 10_000 });
  if (r.code !== 0) {
    throw new TestbedError(`[${h.name}] \`${showCommand(argv)}\` exited with code ${r.code}: ${(r.stderr.trim() || fileTail(logFile)).slice(-800)}`);
  }
  const until = Date.now() + SSHD_READY_MS;
  while (Date.now() < until) {
    const p = sshdProcess(h);
    if (p.alive && (await tcpOpen(h.mgmtIp, h.ssh.port, 300))) {
      log(`sshd on ${h.name} listening on ${h.mgmtIp}:${h.ssh.port} (PID ${p.pid})`);
      return p.pid!;
    }
    await sleep(20);
  }
  throw new TestbedError(`[${h.name}] sshd did not listen on ${h.mgmtIp}:${h.ssh.port} within ${SSHD_READY_MS} ms; ${logFile}: ${fileTail(logFile, 800)}`);
}

async function ensureMgmtGuard(L: TestbedLayout): Promise<void> {
  // The management network carries SSH and metrics only. Even if something enables forwarding in
  // the root namespace (podman does), nothing is routed into or out of it, so no data packet can
  // bypass the switch namespace.
  const rules = [
    `table inet ${L.nftTable} {`,
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    `    iifname "${L.bridge.name}" counter drop`,
    `    oifname "${L.bridge.name}" counter drop`,
    '  }',
    '}',
  ].join('\n');
  await run(['nft', '-f', '-'], { input: `table inet ${L.nftTable}\ndelete table inet ${L.nftTable}\n${rules}\n` });
}

// Server namespaces answer ARP only for addresses on the receiving interface (arp_ignore=1) and
// announce with the matching source (arp_announce=2). Without this the server NIC, which carries no
// address, answers ARP for the macvlan shim's 192.168.12.100 with the NIC's own MAC (ARP flux), and
// the data path would learn a MAC the switch does not route on.
const SERVER_SYSCTLS = ['net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.default.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.default.arp_announce=2'];
// The switch ports are wires of the P4 pipeline: no IPv6 link-local addresses, router solicitations
// or MLD reports of their own. New links in the namespace inherit `default`.
const SWITCH_SYSCTLS = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];

async function nsSysctl(ns: string, settings: string[]): Promise<void> {
  await run(['nsenter', `--net=${join(NETNS_DIR, ns)}`, 'sysctl', '-q', '-w', ...settings]);
}

/** veth carrier comes up asynchronously (linkwatch); callers expect usable links when `up` returns. */
async function waitLinksUp(L: TestbedLayout, log: (m: string) => void, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let down: string[] = [];
  do {
    const have = new Map<string | undefined, Map<string, LinkInfo>>([[undefined, await links()]]);
    for (const h of L.hosts) have.set(h.ns, await links(h.ns));
    down = L.veths.flatMap((v) => [v.a, v.b]).filter((e) => have.get(e.ns)?.get(e.ifname)?.operstate !== 'UP').map((e) => `${e.ns ?? 'root'}/${e.ifname}`);
    if (!down.length) return;
    await sleep(50);
  } while (Date.now() < until);
  log(`warning: links not operationally UP after ${timeoutMs} ms: ${down.join(', ')}`);
}

export interface UpResult { layout: TestbedLayout; created: string[]; sshdPids: Record<TestbedHostName, number>; ms: number }

/**
 * Bring the local testbed up, or repair a half-built one: checks each piece and creates what is
 * missing, restarts a dead sshd. Runs ensurePrerequisites first unless `prerequisites: false`.
 */
export async function testbedUp(config: TestbedConfig, opts: TestbedOptions = {}): Promise<UpResult> {
  const log = opts.log ?? ((m: string) => console.log(`[testbed] ${m}`));
  const t0 = Date.now();
  const L = testbedLayout(config, opts);
  requireRoot('testbed up');
  if (opts.prerequisites !== false) await ensurePrerequisites({ log: (m) => log(`prereqs: ${m}`) });
  const created: string[] = [];
  mkdirSync(L.stateDir, { recursive: true });

  const nss = await netnsList();
  for (const h of L.hosts) {
    if (!nss.has(h.ns)) {
      await run(['ip', 'netns', 'add', h.ns]);
      created.push(`namespace ${h.ns}`);
      log(`created namespace ${h.ns}`);
    }
  }
  const tofinoNs = L.hosts[0].ns;
  await nsSysctl(tofinoNs, SWITCH_SYSCTLS);
  for (const h of L.hosts.slice(1)) await nsSysctl(h.ns, SERVER_SYSCTLS);

  const rootLinks = await links();
  if (!rootLinks.has(L.bridge.name)) {
    const clash = (await run(['ip', '-j', 'route', 'show', 'match', L.bridge.ip])).stdout;
    // a broader route (e.g. 10.0.0.0/8 on the uplink) is harmless: our /len is more specific and wins
    const lenOf = (dst: string): number => (dst.includes('/') ? Number(dst.split('/')[1]) : 32);
    const other = (JSON.parse(clash || '[]') as { dst: string; dev?: string }[])
      .find((r) => r.dst !== 'default' && r.dev && r.dev !== L.bridge.name && lenOf(r.dst) >= L.bridge.prefixLen);
    if (other) throw new TestbedError(`MGMT_SUBNET ${L.bridge.subnet} overlaps route ${other.dst} on ${other.dev} of this machine: choose another MGMT_SUBNET`);
    await run(['ip', 'link', 'add', L.bridge.name, 'type', 'bridge']);
    created.push(`bridge ${L.bridge.name}`);
    log(`created bridge ${L.bridge.name}`);
  }
  await run(['ip', 'addr', 'replace', `${L.bridge.ip}/${L.bridge.prefixLen}`, 'dev', L.bridge.name]);
  await run(['ip', 'link', 'set', L.bridge.name, 'up']);

  const have = new Map<string | undefined, Map<string, LinkInfo>>([[undefined, rootLinks]]);
  for (const h of L.hosts) have.set(h.ns, await links(h.ns));
  for (const v of L.veths) if (await ensureVeth(v, have, log)) created.push(v.label);
  for (const h of L.hosts.filter((x) => created.includes(`mgmt ${x.name}`))) {
    // A re-created host answers with a new MAC; a neighbour entry for the old one would leave the
    // host unreachable from its peers for several seconds (until the entry goes stale and re-probes).
    await run(['ip', 'neigh', 'flush', 'to', h.mgmtIp, 'dev', L.bridge.name]);
    for (const o of L.hosts.filter((x) => x !== h)) await run(ipn(o.ns, 'neigh', 'flush', 'to', h.mgmtIp, 'dev', o.nsVeth));
  }

  for (const h of L.hosts) {
    await run(['ip', 'link', 'set', h.rootVeth, 'master', L.bridge.name, 'up']);
    await run(ipn(h.ns, 'link', 'set', 'lo', 'up'));
    await run(ipn(h.ns, 'addr', 'replace', `${h.mgmtIp}/${L.bridge.prefixLen}`, 'dev', h.nsVeth));
    await run(ipn(h.ns, 'link', 'set', h.nsVeth, 'up'));
  }
  for (const p of L.switchPorts) {
    await run(ipn(tofinoNs, 'link', 'set', p.swIf, 'mtu', String(SWITCH_PORT_MTU), 'up'));
    await run(ipn(hostNamespace(config, p.host), 'link', 'set', p.hostIf, 'up'));
  }
  for (const side of ['lakewood', 'loveland'] as const) {
    const d = L.direct[side];
    await run(ipn(hostNamespace(config, side), 'addr', 'replace', `${d.ip}/24`, 'dev', d.ifname));
    await run(ipn(hostNamespace(config, side), 'link', 'set', d.ifname, 'up'));
  }
  await ensureMgmtGuard(L);
  await waitLinksUp(L, log);

  const authorized = await ensureKeys(L, log);
  const sshdPids = {} as Record<TestbedHostName, number>;
  for (const h of L.hosts) sshdPids[h.name] = await ensureSshd(h, authorized, log);

  const ms = Date.now() - t0;
  log(`testbed ${L.prefix}* up in ${(ms / 1000).toFixed(1)} s (${created.length ? `created: ${created.join(', ')}` : 'everything was already in place'})`);
  return { layout: L, created, sshdPids, ms };
}

// ---------------------------------------------------------------------------------------------
// down

async function podmanNames(kind: 'container' | 'network', prefix: string, log: (m: string) => void): Promise<string[]> {
  const argv = kind === 'container' ? ['podman', 'ps', '-a', '--format', '{{.Names}}'] : ['podman', 'network', 'ls', '--format', '{{.Name}}'];
  const r = await run(argv, { allowFail: true, timeoutMs: 30_000 });
  if (r.code !== 0) {
    // down goes on with the rest; say what may be left instead of reporting a clean removal
    log(`warning: \`${showCommand(argv)}\` exited with code ${r.code} (${(r.stderr.trim() || r.stdout.trim()).split('\n').pop() ?? ''}): podman ${kind}s named ${prefix}* were not removed`);
    return [];
  }
  return r.stdout.split('\n').map((s) => s.trim()).filter((n) => n.startsWith(prefix));
}

function comm(pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return '?'; }
}

/**
 * Remove everything testbedUp created and nothing else: podman containers and networks whose names
 * start with the prefix, our sshd (by recorded PID), processes left in our namespaces, our links,
 * bridge, nft table and namespaces. Keys and known_hosts stay for the next `up`. Idempotent.
 */
export async function testbedDown(config: TestbedConfig, opts: TestbedOptions = {}): Promise<{ removed: string[]; ms: number }> {
  const log = opts.log ?? ((m: string) => console.log(`[testbed] ${m}`));
  const t0 = Date.now();
  const L = testbedLayout(config, opts);
  requireRoot('testbed down');
  const removed: string[] = [];

  const hasPodman = (await run(['sh', '-c', 'command -v podman'], { allowFail: true })).code === 0;
  if (hasPodman) {
    const containers = await podmanNames('container', L.prefix, log);
    if (containers.length) {
      await run(['podman', 'rm', '-f', '-t', '0', ...containers], { timeoutMs: 60_000 });
      removed.push(...containers.map((c) => `container ${c}`));
      log(`removed podman containers ${containers.join(', ')}`);
    }
    const networks = await podmanNames('network', L.prefix, log);
    if (networks.length) {
      await run(['podman', 'network', 'rm', '-f', ...networks], { timeoutMs: 60_000 });
      removed.push(...networks.map((n) => `network ${n}`));
      log(`removed podman networks ${networks.join(', ')}`);
    }
  }

  const sshds = L.hosts.map((h) => ({ h, p: sshdProcess(h) })).filter((x) => x.p.ours);
  await stopPids(sshds.map((x) => x.p.pid!));
  for (const { h, p } of sshds) {
    removed.push(`sshd ${h.name} (PID ${p.pid})`);
    log(`stopped sshd on ${h.name} (PID ${p.pid})`);
  }
  for (const h of L.hosts) rmSync(join(h.dir, 'sshd.pid'), { force: true });

  const nss = await netnsList();
  const ours = L.hosts.filter((h) => nss.has(h.ns));
  // Whatever still runs in our namespaces (switch model, controller, SSH sessions started over
  // this testbed) would keep each namespace, and its links, alive after `ip netns del`.
  const leftovers: number[] = [];
  for (const h of ours) {
    const r = await run(['ip', 'netns', 'pids', h.ns], { allowFail: true });
    for (const s of r.stdout.split('\n')) if (/^\d+$/.test(s.trim())) leftovers.push(Number(s));
  }
  if (leftovers.length) {
    log(`stopping ${leftovers.length} processes left in the testbed namespaces: ${leftovers.map((p) => `${p} ${comm(p)}`).join(', ')}`);
    await stopPids(leftovers, 3_000);
  }

  // Delete links explicitly: namespace teardown is asynchronous, and a quick `up` after `down`
  // must not meet the root-side veths of the old namespaces.
  const rootLinks = await links();
  for (const h of L.hosts) {
    if (rootLinks.has(h.rootVeth)) { await run(['ip', 'link', 'del', h.rootVeth]); removed.push(`link ${h.rootVeth}`); }
  }
  for (const v of L.veths.filter((x) => x.a.ns && nss.has(x.a.ns))) {
    const r = await run(ipn(v.a.ns, 'link', 'del', v.a.ifname), { allowFail: true });
    if (r.code === 0) removed.push(`link ${v.a.ifname}`);
  }
  if (rootLinks.has(L.bridge.name)) { await run(['ip', 'link', 'del', L.bridge.name]); removed.push(`bridge ${L.bridge.name}`); }
  for (const h of ours) { await run(['ip', 'netns', 'del', h.ns]); removed.push(`namespace ${h.ns}`); }
  const nft = await run(['nft', 'delete', 'table', 'inet', L.nftTable], { allowFail: true });
  if (nft.code === 0) removed.push(`nft table ${L.nftTable}`);

  const ms = Date.now() - t0;
  log(`testbed ${L.prefix}* down in ${(ms / 1000).toFixed(1)} s (${removed.length ? `removed ${removed.length}: ${removed.join(', ')}` : 'nothing was there'})`);
  return { removed, ms };
}

// ---------------------------------------------------------------------------------------------
// status

export interface TestbedStatus {
  prefix: string;
  hosts: { name: TestbedHostName; ns: string; present: boolean; sshd: { pid?: number; alive: boolean; listening: boolean; why?: string }; ssh: string }[];
  bridge: { name: string; present: boolean; state?: string };
  links: { label: string; ends: { where: string; ifname: string; present: boolean; state?: string }[] }[];
  /** Everything is present, links up, every sshd alive and listening. */
  ok: boolean;
}

export async function testbedStatus(config: TestbedConfig, opts: Pick<TestbedOptions, 'projectDir' | 'stateDir'> = {}): Promise<TestbedStatus> {
  const L = testbedLayout(config, opts);
  const nss = await netnsList();
  const have = new Map<string | undefined, Map<string, LinkInfo>>([[undefined, await links()]]);
  for (const h of L.hosts) if (nss.has(h.ns)) have.set(h.ns, await links(h.ns));
  const hosts = await Promise.all(L.hosts.map(async (h) => {
    const p = sshdProcess(h);
    const listening = p.alive ? await tcpOpen(h.mgmtIp, h.ssh.port, 500) : false;
    return { name: h.name, ns: h.ns, present: nss.has(h.ns), sshd: { ...p, listening }, ssh: `${h.ssh.user}@${h.mgmtIp}:${h.ssh.port}` };
  }));
  const end = (e: { ns?: string; ifname: string }): TestbedStatus['links'][number]['ends'][number] => {
    const l = have.get(e.ns)?.get(e.ifname);
    return { where: e.ns ?? 'root', ifname: e.ifname, present: !!l, state: l ? (l.flags.includes('UP') ? (l.operstate === 'UP' ? 'UP' : `up/${l.operstate}`) : 'DOWN') : undefined };
  };
  const links_ = L.veths.map((v) => ({ label: v.label, ends: [end(v.a), end(v.b)] }));
  const br = have.get(undefined)!.get(L.bridge.name);
  const bridge = { name: L.bridge.name, present: !!br, state: br?.operstate };
  const ok = hosts.every((h) => h.present && h.sshd.alive && h.sshd.listening) && !!br &&
    links_.every((l) => l.ends.every((e) => e.present && e.state === 'UP'));
  return { prefix: L.prefix, hosts, bridge, links: links_, ok };
}

export function formatStatus(s: TestbedStatus): string {
  const out = [`testbed ${s.prefix}*: ${s.ok ? 'UP (all pieces healthy)' : 'NOT fully up (run `npx tsx experiments/testbed.ts up` to repair)'}`];
  for (const h of s.hosts) {
    const sshd = h.sshd.alive ? `sshd PID ${h.sshd.pid} ${h.sshd.listening ? 'listening' : 'NOT listening'}` : `sshd down${h.sshd.why ? ` (${h.sshd.why})` : ''}`;
    out.push(`  host ${h.name.padEnd(9)} namespace ${h.ns} ${h.present ? 'present' : 'MISSING'}; ${sshd}; ssh ${h.ssh}`);
  }
  out.push(`  bridge ${s.bridge.name} ${s.bridge.present ? `present (${s.bridge.state})` : 'MISSING'}`);
  for (const l of s.links) {
    out.push(`  link ${l.label}: ${l.ends.map((e) => `${e.where}/${e.ifname} ${e.present ? e.state : 'MISSING'}`).join(' ↔ ')}`);
  }
  return out.join('\n');
}
