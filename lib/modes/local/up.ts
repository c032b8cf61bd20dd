// `up`: create the local testbed, or repair a half-built one (every piece is checked and only
// what is missing is made). The pieces and their names come from layout.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { emulateHwUp, hwEmulationPresent } from './emulate-hw.ts';
import { ensureKeys, ensureSshd, rootAccountLocked, type SshdMode } from './sshd.ts';
import {
  hostNamespace,
  NETNS_DIR,
  requireRoot,
  TestbedError,
  testbedLayout,
  type TestbedConfig,
  type TestbedHostName,
  type TestbedLayout,
  type TestbedOptions,
  type VethSpec,
} from './layout.ts';
import { ipn, links, netnsList, type LinkInfo } from './links.ts';
import { ensurePrerequisites } from './prereqs.ts';
import { run } from '../../hosts/run-local.ts';
import { sleep } from './procs.ts';

const SWITCH_PORT_MTU = 9216; // like a real switch port: never the bottleneck when the build raises NIC_MTU

async function ensureVeth(
  v: VethSpec,
  have: Map<string | undefined, Map<string, LinkInfo>>,
  log: (m: string) => void,
): Promise<boolean> {
  const aThere = have.get(v.a.ns)?.has(v.a.ifname) ?? false;
  const bThere = have.get(v.b.ns)?.has(v.b.ifname) ?? false;
  if (aThere && bThere) return false;
  // a lone end means its peer (or namespace) was lost: rebuild the pair from scratch. The end may
  // be gone since `have` was read: replacing an earlier pair removed its peer (a testbed that had
  // one direct cable between two servers, now joining three on the direct bridge).
  if (aThere) await run(ipn(v.a.ns, 'link', 'del', v.a.ifname), { allowFail: true });
  if (bThere) await run(ipn(v.b.ns, 'link', 'del', v.b.ifname), { allowFail: true });
  await run([
    'ip',
    'link',
    'add',
    v.a.ifname,
    ...(v.a.ns ? ['netns', v.a.ns] : []),
    'type',
    'veth',
    'peer',
    'name',
    v.b.ifname,
    ...(v.b.ns ? ['netns', v.b.ns] : []),
  ]);
  log(
    `created ${v.label}: ${v.a.ns ?? 'root'}/${v.a.ifname} ↔ ${v.b.ns ?? 'root'}/${v.b.ifname}${aThere || bThere ? ' (replaced a lone end)' : ''}`,
  );
  return true;
}

/**
 * Two servers are joined by one cable; a testbed brought up with more had a bridge in the switch
 * namespace instead, whose ports are the servers' direct interfaces: remove it and them, so the
 * cable is made new (the servers' ends would otherwise look present).
 */
async function dropDirectBridge(L: TestbedLayout, tofinoNs: string, log: (m: string) => void): Promise<void> {
  const name = `${L.prefix}direct`;
  const here = await links(tofinoNs);
  if (!here.has(name)) return;
  for (const l of here.values()) if (l.master === name) await run(ipn(tofinoNs, 'link', 'del', l.ifname), { allowFail: true });
  await run(ipn(tofinoNs, 'link', 'del', name), { allowFail: true });
  log(`removed bridge ${name} in ${tofinoNs}: two servers are joined by one direct cable`);
}

async function ensureMgmtGuard(L: TestbedLayout): Promise<void> {
  // The management network carries SSH, metrics and controller calls only. Even if something
  // enables forwarding in the root namespace (podman does), nothing is routed into or out of it, so
  // no data packet can bypass the switch namespace. Frames between the testbed hosts on the bridge
  // stay allowed, as on a lab's management LAN (a server reaching the controller on the switch,
  // SWITCH_UPDATE_FROM=source): with br_netfilter on, bridged frames pass this hook too.
  const rules = [
    `table inet ${L.nftTable} {`,
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    // bridged (host to host on the LAN): both ends are the bridge itself
    `    iifname "${L.bridge.name}" oifname "${L.bridge.name}" accept`,
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
const SERVER_SYSCTLS = [
  'net.ipv4.conf.all.arp_ignore=1',
  'net.ipv4.conf.default.arp_ignore=1',
  'net.ipv4.conf.all.arp_announce=2',
  'net.ipv4.conf.default.arp_announce=2',
];
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
    down = L.veths
      .flatMap((v) => [v.a, v.b])
      .filter((e) => have.get(e.ns)?.get(e.ifname)?.operstate !== 'UP')
      .map((e) => `${e.ns ?? 'root'}/${e.ifname}`);
    if (!down.length) return;
    await sleep(50);
  } while (Date.now() < until);
  log(`warning: links not operationally UP after ${timeoutMs} ms: ${down.join(', ')}`);
}

export interface UpResult {
  layout: TestbedLayout;
  created: string[];
  sshdPids: Record<TestbedHostName, number>;
  ms: number;
  /** With emulateHw: the hardware overlay that points at the emulated lab. */
  overlay?: string;
}

/**
 * Bring the local testbed up, or repair a half-built one: checks each piece and creates what is
 * missing, restarts a dead sshd. Runs ensurePrerequisites first unless `prerequisites: false`.
 */
export async function testbedUp(config: TestbedConfig, opts: TestbedOptions = {}): Promise<UpResult> {
  const log = opts.log ?? ((m: string) => console.log(`[testbed] ${m}`));
  const t0 = Date.now();
  const L = testbedLayout(config, opts);
  requireRoot('testbed up');
  if (!opts.emulateHw && hwEmulationPresent(L)) {
    throw new TestbedError(
      `testbed ${L.prefix}* is dressed as the lab (up --emulate-hw): its sshd refuses root logins. ` +
        'Run with --config .testbed/config_hw.env, repair it with `npx tsx experiments/testbed.ts up --emulate-hw`, or take it down first',
    );
  }
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
    const other = (JSON.parse(clash || '[]') as { dst: string; dev?: string }[]).find(
      (r) => r.dst !== 'default' && r.dev && r.dev !== L.bridge.name && lenOf(r.dst) >= L.bridge.prefixLen,
    );
    if (other)
      throw new TestbedError(
        `MGMT_SUBNET ${L.bridge.subnet} overlaps route ${other.dst} on ${other.dev} of this machine: choose another MGMT_SUBNET`,
      );
    await run(['ip', 'link', 'add', L.bridge.name, 'type', 'bridge']);
    created.push(`bridge ${L.bridge.name}`);
    log(`created bridge ${L.bridge.name}`);
  }
  await run(['ip', 'addr', 'replace', `${L.bridge.ip}/${L.bridge.prefixLen}`, 'dev', L.bridge.name]);
  await run(['ip', 'link', 'set', L.bridge.name, 'up']);

  if (!L.directBridge) await dropDirectBridge(L, tofinoNs, log);
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
  if (L.directBridge) {
    const b = L.directBridge;
    if (!have.get(b.ns)?.has(b.name)) {
      await run(ipn(b.ns, 'link', 'add', b.name, 'type', 'bridge'));
      created.push(`bridge ${b.name}`);
      log(`created bridge ${b.name} in ${b.ns} (direct network of ${Object.keys(L.direct).length} servers)`);
    }
    await run(ipn(b.ns, 'link', 'set', b.name, 'up'));
    for (const v of L.veths.filter((x) => x.a.ns === b.ns && x.a.ifname.startsWith(`${L.prefix}d`)))
      await run(ipn(b.ns, 'link', 'set', v.a.ifname, 'master', b.name, 'up'));
  }
  for (const side of Object.keys(L.direct)) {
    const d = L.direct[side];
    await run(ipn(hostNamespace(config, side), 'addr', 'replace', `${d.ip}/24`, 'dev', d.ifname));
    await run(ipn(hostNamespace(config, side), 'link', 'set', d.ifname, 'up'));
  }
  await ensureMgmtGuard(L);
  await waitLinksUp(L, log);

  const authorized = await ensureKeys(L, log);
  // the lab user and its key must exist before sshd accepts it
  const overlay = opts.emulateHw ? await emulateHwUp(config, L, L.projectDir, (m) => log(`emulate-hw: ${m}`)) : undefined;
  const mode: SshdMode = opts.emulateHw
    ? { authorizedKeys: '.ssh/authorized_keys', usePam: false, permitRootLogin: 'no' }
    : { authorizedKeys: authorized, usePam: rootAccountLocked(), permitRootLogin: 'prohibit-password' };
  const sshdPids = {} as Record<TestbedHostName, number>;
  for (const h of L.hosts) sshdPids[h.name] = await ensureSshd(h, mode, log);

  const ms = Date.now() - t0;
  log(
    `testbed ${L.prefix}* up in ${(ms / 1000).toFixed(1)} s (${created.length ? `created: ${created.join(', ')}` : 'everything was already in place'})`,
  );
  return { layout: L, created, sshdPids, ms, overlay };
}
