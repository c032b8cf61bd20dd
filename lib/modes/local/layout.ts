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
//
// This module: the names and addresses of every piece, derived from the config (pure; no I/O).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IFNAME, type Config } from '../../config/keys.ts';

export type TestbedConfig = Pick<
  Config,
  | 'TESTBED_PREFIX'
  | 'ARCH'
  | 'MGMT_SUBNET'
  | 'TOFINO_SSH'
  | 'LAKEWOOD_SSH'
  | 'LOVELAND_SSH'
  | 'SSH_KEY'
  | 'SSH_KNOWN_HOSTS'
  | 'LAKEWOOD_NIC'
  | 'LOVELAND_NIC'
  | 'LAKEWOOD_SW_PORT'
  | 'LOVELAND_SW_PORT'
  | 'LAKEWOOD_DIRECT_IF'
  | 'LOVELAND_DIRECT_IF'
  | 'LAKEWOOD_DIRECT_IP'
  | 'LOVELAND_DIRECT_IP'
>;

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
  direct: { lakewood: { ifname: string; ip: string }; loveland: { ifname: string; ip: string } };
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

/** The management addresses MGMT_SUBNET implies: .1 this machine, .2 tofino, .3 lakewood, .4 loveland. */
export function mgmtAddresses(subnet: string): {
  control: string;
  tofino: string;
  lakewood: string;
  loveland: string;
  prefixLen: number;
} {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet);
  if (!m) throw new TestbedError(`MGMT_SUBNET ${JSON.stringify(subnet)}: expected an IPv4 prefix such as 10.199.0.0/24`);
  const len = Number(m[2]);
  if (len < 8 || len > 29)
    throw new TestbedError(`MGMT_SUBNET ${subnet}: expected a prefix length between /8 and /29 (room for .1-.4)`);
  const net = ipToInt(m[1]) - (ipToInt(m[1]) % 2 ** (32 - len));
  if (net !== ipToInt(m[1]))
    throw new TestbedError(`MGMT_SUBNET ${subnet}: host bits are set; expected the network address ${intToIp(net)}/${len}`);
  return {
    control: intToIp(net + 1),
    tofino: intToIp(net + 2),
    lakewood: intToIp(net + 3),
    loveland: intToIp(net + 4),
    prefixLen: len,
  };
}

/** Switch-side interface of each server port, keyed by dev port: the switch model binds these. */
export function switchPortIfaces(
  config: Pick<TestbedConfig, 'TESTBED_PREFIX' | 'LAKEWOOD_SW_PORT' | 'LOVELAND_SW_PORT'>,
): Record<number, string> {
  return {
    [config.LAKEWOOD_SW_PORT]: `${config.TESTBED_PREFIX}p${config.LAKEWOOD_SW_PORT}`,
    [config.LOVELAND_SW_PORT]: `${config.TESTBED_PREFIX}p${config.LOVELAND_SW_PORT}`,
  };
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
  const addrs = mgmtAddresses(config.MGMT_SUBNET);
  const keyOf: Record<TestbedHostName, 'TOFINO_SSH' | 'LAKEWOOD_SSH' | 'LOVELAND_SSH'> = {
    tofino: 'TOFINO_SSH',
    lakewood: 'LAKEWOOD_SSH',
    loveland: 'LOVELAND_SSH',
  };
  const hosts = TESTBED_HOSTS.map((name): HostLayout => {
    const ssh = config[keyOf[name]];
    if (ssh.host !== addrs[name]) {
      throw new TestbedError(
        `${keyOf[name]} is ${ssh.user}@${ssh.host}:${ssh.port}, but MGMT_SUBNET ${config.MGMT_SUBNET} puts ${name} at ${addrs[name]}: ` +
          `set ${keyOf[name]}=${ssh.user}@${addrs[name]}:${ssh.port} or change MGMT_SUBNET`,
      );
    }
    return {
      name,
      ns: hostNamespace(config, name),
      mgmtIp: addrs[name],
      ssh,
      rootVeth: `${P}m${name}`,
      nsVeth: `${P}mgmt`,
      dir: join(stateDir, `${P}hosts`, name),
    };
  });
  for (const k of ['LAKEWOOD_NIC', 'LOVELAND_NIC', 'LAKEWOOD_DIRECT_IF', 'LOVELAND_DIRECT_IF'] as const) {
    if (!IFNAME.test(config[k]))
      throw new TestbedError(`${k} ${JSON.stringify(config[k])}: expected an interface name of 1-15 letters, digits, _ . -`);
    if (config[k] === `${P}mgmt` || config[k] === 'lo')
      throw new TestbedError(
        `${k} ${config[k]}: that name is taken by the testbed's ${config[k] === 'lo' ? 'loopback' : 'management'} interface`,
      );
  }
  for (const h of ['LAKEWOOD', 'LOVELAND'] as const) {
    if (config[`${h}_NIC`] === config[`${h}_DIRECT_IF`])
      throw new TestbedError(
        `${h}_NIC and ${h}_DIRECT_IF are both ${config[`${h}_NIC`]}: expected two different interface names`,
      );
  }
  if (config.LAKEWOOD_SW_PORT === config.LOVELAND_SW_PORT)
    throw new TestbedError(
      `LAKEWOOD_SW_PORT and LOVELAND_SW_PORT are both ${config.LAKEWOOD_SW_PORT}: expected two different dev ports`,
    );
  const d1 = config.LAKEWOOD_DIRECT_IP;
  const d2 = config.LOVELAND_DIRECT_IP;
  if (d1 === d2 || ipToInt(d1) >>> 8 !== ipToInt(d2) >>> 8) {
    throw new TestbedError(`LAKEWOOD_DIRECT_IP ${d1} and LOVELAND_DIRECT_IP ${d2}: expected two different addresses in one /24`);
  }
  const ns = (h: TestbedHostName): string => hostNamespace(config, h);
  const ports = switchPortIfaces(config);
  const switchPorts = [
    {
      devPort: config.LAKEWOOD_SW_PORT,
      swIf: ports[config.LAKEWOOD_SW_PORT],
      host: 'lakewood' as const,
      hostIf: config.LAKEWOOD_NIC,
    },
    {
      devPort: config.LOVELAND_SW_PORT,
      swIf: ports[config.LOVELAND_SW_PORT],
      host: 'loveland' as const,
      hostIf: config.LOVELAND_NIC,
    },
  ];
  const veths: VethSpec[] = [
    ...hosts.map((h) => ({ label: `mgmt ${h.name}`, a: { ifname: h.rootVeth }, b: { ns: h.ns, ifname: h.nsVeth } })),
    ...switchPorts.map((p) => ({
      label: `switch port ${p.devPort} ↔ ${p.host}`,
      a: { ns: ns('tofino'), ifname: p.swIf },
      b: { ns: ns(p.host), ifname: p.hostIf },
    })),
    {
      label: 'direct lakewood ↔ loveland',
      a: { ns: ns('lakewood'), ifname: config.LAKEWOOD_DIRECT_IF },
      b: { ns: ns('loveland'), ifname: config.LOVELAND_DIRECT_IF },
    },
  ];
  return {
    prefix: P,
    hosts,
    bridge: { name: `${P}mgmt`, ip: addrs.control, prefixLen: addrs.prefixLen, subnet: config.MGMT_SUBNET },
    switchPorts,
    direct: { lakewood: { ifname: config.LAKEWOOD_DIRECT_IF, ip: d1 }, loveland: { ifname: config.LOVELAND_DIRECT_IF, ip: d2 } },
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
