// The local testbed: the switch and the servers (SERVERS) as network namespaces on this machine, each
// with its own OpenSSH server, so every phase talks to them over SSH exactly as to real machines.
//
//   root namespace (control machine)          ${P}tofino                 ${P}lakewood / ${P}loveland
//   bridge ${P}mgmt  .1  ── ${P}m<host> ══════ ${P}mgmt .2     ...       ${P}mgmt .3 / .4   (SSH, metrics)
//                                              ${P}p140 ═══════════════ LAKEWOOD_NIC         (data path)
//                                              ${P}p148 ═══════════════ LOVELAND_NIC
//                                              ${P}p156 … one port per further server (<NAME>_SW_PORT)
//                                                     lakewood LAKEWOOD_DIRECT_IF ═ LOVELAND_DIRECT_IF loveland
//                                                                                  (checkpoint transfer)
//   with three or more servers the direct links meet on bridge ${P}direct in ${P}tofino instead
//   (${P}d<name> ═ <NAME>_DIRECT_IF per server): one direct network.
// Every name starts with TESTBED_PREFIX, so tests (p4tb-) and real runs (p4cf-) never meet, and
// `down` removes exactly what `up` made. `up` is a repair: it checks each piece and makes what is missing.
//
// This module: the names and addresses of every piece, derived from the config (pure; no I/O).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IFNAME, type Config, type ServerValues } from '../../config/keys.ts';
import { type ServerField, serverKey } from '../../config/keys/servers.ts';
import { serverNode } from '../../server/net.ts';

export type TestbedConfig = Pick<
  Config,
  'TESTBED_PREFIX' | 'ARCH' | 'MGMT_SUBNET' | 'TOFINO_SSH' | 'SSH_KEY' | 'SSH_KNOWN_HOSTS' | 'SERVERS'
> &
  ServerValues;

/** tofino or one of SERVERS. */
export type TestbedHostName = string;
/** The testbed's hosts: the switch, then the servers in SERVERS order. */
export const testbedHosts = (config: Pick<Config, 'SERVERS'>): TestbedHostName[] => ['tofino', ...config.SERVERS];

export interface TestbedOptions {
  log?: (msg: string) => void;
  /** Repo root; relative SSH_KEY / SSH_KNOWN_HOSTS are resolved against it. Default: this repository. */
  projectDir?: string;
  /** Where PIDs, sshd configs and host keys live. Default `<projectDir>/.testbed`. */
  stateDir?: string;
  /** Run ensurePrerequisites first (default true). */
  prerequisites?: boolean;
  /** Dress the testbed as the lab (emulate-hw.ts): non-root sudo user, no root login, emulated SDE, hardware overlay. */
  emulateHw?: boolean;
}

const REPO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const NETNS_DIR = '/run/netns';

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
  /** Each server's end of the direct network, by server name. */
  direct: Record<string, { ifname: string; ip: string }>;
  /** More than two servers: the bridge in the switch namespace that joins their direct links. */
  directBridge?: { ns: string; name: string };
  veths: VethSpec[];
  nftTable: string;
  projectDir: string;
  stateDir: string;
  sshKey: string;
  knownHosts: string;
}

/** Bad testbed configuration; the message names the key, the value and what is expected. */
export class TestbedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TestbedError';
  }
}

const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** The management addresses MGMT_SUBNET implies: .1 this machine, .2 tofino, .3, .4, … the servers in order. */
export function mgmtAddresses(
  subnet: string,
  servers: readonly string[] = ['lakewood', 'loveland'],
): { control: string; prefixLen: number; host: Record<TestbedHostName, string> } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet);
  if (!m) throw new TestbedError(`MGMT_SUBNET ${JSON.stringify(subnet)}: expected an IPv4 prefix such as 10.199.0.0/24`);
  const len = Number(m[2]);
  const need = servers.length + 3; // network, control, tofino, servers (and broadcast below)
  if (len < 8 || 2 ** (32 - len) < need + 1)
    throw new TestbedError(
      `MGMT_SUBNET ${subnet}: expected a prefix length of /8 or more and room for .1-.${need - 1} (${servers.length} servers)`,
    );
  const net = ipToInt(m[1]) - (ipToInt(m[1]) % 2 ** (32 - len));
  if (net !== ipToInt(m[1]))
    throw new TestbedError(`MGMT_SUBNET ${subnet}: host bits are set; expected the network address ${intToIp(net)}/${len}`);
  const host: Record<TestbedHostName, string> = { tofino: intToIp(net + 2) };
  servers.forEach((s, i) => {
    host[s] = intToIp(net + 3 + i);
  });
  return { control: intToIp(net + 1), prefixLen: len, host };
}

const key = (name: string, field: ServerField): string => serverKey(name, field);

/** Switch-side interface of each server port, keyed by dev port: the switch model binds these. */
export function switchPortIfaces(
  config: Pick<TestbedConfig, 'TESTBED_PREFIX' | 'SERVERS'> & ServerValues,
): Record<number, string> {
  return Object.fromEntries(
    config.SERVERS.map((s) => {
      const port = serverNode(config, s).swPort;
      return [port, `${config.TESTBED_PREFIX}p${port}`];
    }),
  );
}

/** Network namespace of a testbed host, e.g. `p4cf-lakewood`; its path is `/run/netns/<name>`. */
export const hostNamespace = (config: Pick<TestbedConfig, 'TESTBED_PREFIX'>, host: TestbedHostName): string =>
  `${config.TESTBED_PREFIX}${host}`;

export function testbedLayout(config: TestbedConfig, opts: Pick<TestbedOptions, 'projectDir' | 'stateDir'> = {}): TestbedLayout {
  const P = config.TESTBED_PREFIX;
  if (!/^[a-z0-9]{1,5}-$/.test(P))
    throw new TestbedError(`TESTBED_PREFIX ${JSON.stringify(P)}: expected 1-5 lowercase letters/digits and a dash, e.g. p4cf-`);
  const projectDir = opts.projectDir ?? REPO_DIR;
  const stateDir = resolve(projectDir, opts.stateDir ?? '.testbed');
  const servers = config.SERVERS;
  const addrs = mgmtAddresses(config.MGMT_SUBNET, servers);
  const sshKeyOf = (name: TestbedHostName) => (name === 'tofino' ? 'TOFINO_SSH' : key(name, 'SSH'));
  const node = (s: string) => serverNode(config, s);
  const hosts = testbedHosts(config).map((name): HostLayout => {
    const k = sshKeyOf(name) as `${string}_SSH`;
    const ssh = config[k];
    const want = addrs.host[name];
    if (ssh.host !== want) {
      throw new TestbedError(
        `${k} is ${ssh.user}@${ssh.host}:${ssh.port}, but MGMT_SUBNET ${config.MGMT_SUBNET} puts ${name} at ${want}: ` +
          `set ${k}=${ssh.user}@${want}:${ssh.port} or change MGMT_SUBNET`,
      );
    }
    return {
      name,
      ns: hostNamespace(config, name),
      mgmtIp: want,
      ssh,
      rootVeth: `${P}m${name}`,
      nsVeth: `${P}mgmt`,
      dir: join(stateDir, `${P}hosts`, name),
    };
  });
  for (const [k, v] of servers.flatMap((s) => [
    [key(s, 'NIC'), node(s).nic],
    [key(s, 'DIRECT_IF'), node(s).directIf],
  ])) {
    if (!IFNAME.test(v))
      throw new TestbedError(`${k} ${JSON.stringify(v)}: expected an interface name of 1-15 letters, digits, _ . -`);
    if (v === `${P}mgmt` || v === 'lo')
      throw new TestbedError(
        `${k} ${v}: that name is taken by the testbed's ${v === 'lo' ? 'loopback' : 'management'} interface`,
      );
  }
  for (const s of servers) {
    if (node(s).nic === node(s).directIf)
      throw new TestbedError(
        `${key(s, 'NIC')} and ${key(s, 'DIRECT_IF')} are both ${node(s).nic}: expected two different interface names`,
      );
  }
  const portOwner = new Map<number, string>();
  const ipOwner = new Map<string, string>();
  for (const s of servers) {
    const pk = key(s, 'SW_PORT');
    const ik = key(s, 'DIRECT_IP');
    const { swPort, directIp } = node(s);
    const other = portOwner.get(swPort);
    if (other) throw new TestbedError(`${other} and ${pk} are both ${swPort}: expected a different dev port per server`);
    portOwner.set(swPort, pk);
    const first = node(servers[0]).directIp;
    if (ipOwner.has(directIp) || ipToInt(first) >>> 8 !== ipToInt(directIp) >>> 8)
      throw new TestbedError(
        `${key(servers[0], 'DIRECT_IP')} ${first} and ${ik} ${directIp}: expected a different address per server, all in one /24`,
      );
    ipOwner.set(directIp, ik);
  }
  const ns = (h: TestbedHostName): string => hostNamespace(config, h);
  const ports = switchPortIfaces(config);
  const switchPorts = servers.map((s) => ({
    devPort: node(s).swPort,
    swIf: ports[node(s).swPort],
    host: s,
    hostIf: node(s).nic,
  }));
  const direct = Object.fromEntries(servers.map((s) => [s, { ifname: node(s).directIf, ip: node(s).directIp }]));
  // Two servers: one cable between them, as in the published lab. More: a bridge joins them (one
  // direct network), kept in the switch namespace so `down` removes it with that namespace.
  const directBridge = servers.length > 2 ? { ns: ns('tofino'), name: `${P}direct` } : undefined;
  const directVeths: VethSpec[] = directBridge
    ? servers.map((s) => ({
        label: `direct ${s} ↔ bridge ${directBridge.name}`,
        a: { ns: directBridge.ns, ifname: `${P}d${s}` },
        b: { ns: ns(s), ifname: direct[s].ifname },
      }))
    : [
        {
          label: `direct ${servers[0]} ↔ ${servers[1]}`,
          a: { ns: ns(servers[0]), ifname: direct[servers[0]].ifname },
          b: { ns: ns(servers[1]), ifname: direct[servers[1]].ifname },
        },
      ];
  const veths: VethSpec[] = [
    ...hosts.map((h) => ({ label: `mgmt ${h.name}`, a: { ifname: h.rootVeth }, b: { ns: h.ns, ifname: h.nsVeth } })),
    ...switchPorts.map((p) => ({
      label: `switch port ${p.devPort} ↔ ${p.host}`,
      a: { ns: ns('tofino'), ifname: p.swIf },
      b: { ns: ns(p.host), ifname: p.hostIf },
    })),
    ...directVeths,
  ];
  return {
    prefix: P,
    hosts,
    bridge: { name: `${P}mgmt`, ip: addrs.control, prefixLen: addrs.prefixLen, subnet: config.MGMT_SUBNET },
    switchPorts,
    direct,
    directBridge,
    veths,
    nftTable: `${P.replace(/-$/, '')}_mgmt_guard`,
    projectDir,
    stateDir,
    sshKey: resolve(projectDir, config.SSH_KEY),
    knownHosts: resolve(projectDir, config.SSH_KNOWN_HOSTS),
  };
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new TestbedError(`${what} needs root (namespaces, links, sshd); run it as root`);
}
