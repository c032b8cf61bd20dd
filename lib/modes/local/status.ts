// `status`: every host, link and daemon of the testbed with its state, and whether all is healthy.
import { testbedLayout, type TestbedConfig, type TestbedHostName, type TestbedOptions } from './layout.ts';
import { links, netnsList, type LinkInfo } from './links.ts';
import { tcpOpen } from './procs.ts';
import { sshdProcess } from './sshd.ts';
import { hwEmulationLayout, hwEmulationPresent } from './emulate-hw.ts';

export interface TestbedStatus {
  prefix: string;
  hosts: {
    name: TestbedHostName;
    ns: string;
    present: boolean;
    sshd: { pid?: number; alive: boolean; listening: boolean; why?: string };
    ssh: string;
  }[];
  bridge: { name: string; present: boolean; state?: string };
  links: { label: string; ends: { where: string; ifname: string; present: boolean; state?: string }[] }[];
  /** Everything is present, links up, every sshd alive and listening. */
  ok: boolean;
}

export async function testbedStatus(
  config: TestbedConfig,
  opts: Pick<TestbedOptions, 'projectDir' | 'stateDir'> = {},
): Promise<TestbedStatus> {
  const L = testbedLayout(config, opts);
  const nss = await netnsList();
  // dressed as the lab, the hosts are logged into as the lab user
  const user = hwEmulationPresent(L) ? hwEmulationLayout(L).user : undefined;
  const have = new Map<string | undefined, Map<string, LinkInfo>>([[undefined, await links()]]);
  for (const h of L.hosts) if (nss.has(h.ns)) have.set(h.ns, await links(h.ns));
  const hosts = await Promise.all(
    L.hosts.map(async (h) => {
      const p = sshdProcess(h);
      const listening = p.alive ? await tcpOpen(h.mgmtIp, h.ssh.port, 500) : false;
      return {
        name: h.name,
        ns: h.ns,
        present: nss.has(h.ns),
        sshd: { ...p, listening },
        ssh: `${user ?? h.ssh.user}@${h.mgmtIp}:${h.ssh.port}`,
      };
    }),
  );
  const end = (e: { ns?: string; ifname: string }): TestbedStatus['links'][number]['ends'][number] => {
    const l = have.get(e.ns)?.get(e.ifname);
    return {
      where: e.ns ?? 'root',
      ifname: e.ifname,
      present: !!l,
      state: l ? (l.flags.includes('UP') ? (l.operstate === 'UP' ? 'UP' : `up/${l.operstate}`) : 'DOWN') : undefined,
    };
  };
  const links_ = L.veths.map((v) => ({ label: v.label, ends: [end(v.a), end(v.b)] }));
  const br = have.get(undefined)!.get(L.bridge.name);
  const bridge = { name: L.bridge.name, present: !!br, state: br?.operstate };
  const ok =
    hosts.every((h) => h.present && h.sshd.alive && h.sshd.listening) &&
    !!br &&
    links_.every((l) => l.ends.every((e) => e.present && e.state === 'UP'));
  return { prefix: L.prefix, hosts, bridge, links: links_, ok };
}

export function formatStatus(s: TestbedStatus): string {
  const out = [
    `testbed ${s.prefix}*: ${s.ok ? 'UP (all pieces healthy)' : 'NOT fully up (run `npx tsx experiments/testbed.ts up` to repair)'}`,
  ];
  for (const h of s.hosts) {
    const sshd = h.sshd.alive
      ? `sshd PID ${h.sshd.pid} ${h.sshd.listening ? 'listening' : 'NOT listening'}`
      : `sshd down${h.sshd.why ? ` (${h.sshd.why})` : ''}`;
    out.push(`  host ${h.name.padEnd(9)} namespace ${h.ns} ${h.present ? 'present' : 'MISSING'}; ${sshd}; ssh ${h.ssh}`);
  }
  out.push(`  bridge ${s.bridge.name} ${s.bridge.present ? `present (${s.bridge.state})` : 'MISSING'}`);
  for (const l of s.links) {
    out.push(`  link ${l.label}: ${l.ends.map((e) => `${e.where}/${e.ifname} ${e.present ? e.state : 'MISSING'}`).join(' ↔ ')}`);
  }
  return out.join('\n');
}
