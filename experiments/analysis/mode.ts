// The migration mode of a run and the addresses of each migration, for report.html, summary.json
// and compare: same-ip (the published experiment: the container keeps H2_IP, clients connect to
// it) or vip (clients connect to the VIP; the container's own address changes with its server).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MemberExperiment } from '../../lib/server/balance.ts';
import { esc, table } from './html.ts';
import type { RunData } from './load.ts';

export interface MigrationAddresses {
  index: number;
  backend_ip_before: string | null;
  backend_ip_after: string | null;
  /** What the restored container's eth0 held (vip mode). */
  container_ip_after: string | null;
  /** What the load generator's sockets were connected to after the switch (vip mode). */
  client_peers: string | null;
  ckpt_rewrite: string | null;
}

export interface ModeSummary {
  mode: 'same-ip' | 'vip';
  /** Where the clients connect: the VIP (vip) or H2_IP (same-ip); null when unknown. */
  service_ip: string | null;
  migrations: MigrationAddresses[];
  /** BACKENDS ≥ 2: the connection split and the /setMemberStatus experiment (backends.json). */
  backends: MemberExperiment | null;
}

const str = (v: unknown): string | null => (v === undefined || v === null || v === '' ? null : String(v));

export function modeOf(run: RunData): ModeSummary {
  const cfg = (k: string) => str(run.config[k]?.value);
  const fromTiming = run.timings.map((t) => str(t.values.migration_mode)).find((m) => m !== null);
  // a run folder without the key (published bash runs, older p4cf runs) is the published same-ip experiment
  const mode = (cfg('MIGRATION_MODE') ?? fromTiming) === 'vip' ? 'vip' : 'same-ip';
  const service = mode === 'vip' ? cfg('VIP') : cfg('H2_IP');
  return {
    mode,
    service_ip: service ?? run.timings.map((t) => str(t.values.service_ip)).find((m) => m !== null) ?? null,
    backends: readBackends(run.dir),
    migrations: run.timings.map((t) => ({
      index: t.index,
      backend_ip_before: str(t.values.backend_ip_before) ?? (mode === 'same-ip' ? str(t.values.server_ip) : null),
      backend_ip_after: str(t.values.backend_ip_after) ?? str(t.values.server_ip),
      container_ip_after: str(t.values.container_ip_after),
      client_peers: str(t.values.client_peers),
      ckpt_rewrite: str(t.values.ckpt_rewrite),
    })),
  };
}

function readBackends(dir: string): MemberExperiment | null {
  const f = join(dir, 'backends.json');
  if (!existsSync(f)) return null;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as MemberExperiment;
  } catch {
    return null;
  }
}

/** True when a vip-mode run's clients saw only the VIP (every recorded peer list names the VIP alone). */
export function clientsSawOnlyVip(m: ModeSummary): boolean | null {
  if (m.mode !== 'vip' || !m.service_ip) return null;
  const seen = m.migrations.map((x) => x.client_peers).filter((p): p is string => p !== null);
  if (!seen.length) return null;
  return seen.every((p) => p.split(', ').every((e) => e.startsWith(`${m.service_ip}:`)));
}

export function renderMode(m: ModeSummary): string {
  if (m.mode === 'same-ip') {
    return (
      `<h2>Migration mode: same-ip</h2><p>The published experiment: the container keeps its address ${esc(m.service_ip ?? '(H2_IP)')}` +
      ' on both servers; clients connect to it directly and the switch only changes the port it forwards to.</p>'
    );
  }
  const only = clientsSawOnlyVip(m);
  const changed = m.migrations.filter(
    (x) => x.backend_ip_before && x.backend_ip_after && x.backend_ip_before !== x.backend_ip_after,
  ).length;
  const verdict = [
    `The server's IP changed in ${changed} of ${m.migrations.length} migration(s).`,
    only === null
      ? 'What the clients were connected to was not recorded.'
      : only
        ? `The clients only ever saw the VIP ${esc(m.service_ip!)}: after every switch update their sockets were connected to it alone.`
        : `The clients' sockets were connected to something else than the VIP ${esc(m.service_ip!)} (see the table).`,
  ].join(' ');
  return (
    `<h2>Migration mode: vip (behind the load balancer)</h2>` +
    `<p>Clients connect to the VIP ${esc(m.service_ip ?? '?')} only; the switch's selector rewrites the destination to the backend and` +
    ` client_snat gives the replies the VIP as source. Each migration restores the container with the target server's own address` +
    ` (socket addresses rewritten in the checkpoint) and /migrateNode re-targets the selector member. ${verdict}</p>` +
    table(
      [
        '#',
        'backend IP before',
        'backend IP after',
        "restored container's eth0",
        'clients connected to (after the switch)',
        'checkpoint rewrite',
      ],
      m.migrations.map((x) => [
        String(x.index),
        x.backend_ip_before ?? '–',
        x.backend_ip_after ?? '–',
        x.container_ip_after ?? '–',
        x.client_peers ?? '–',
        x.ckpt_rewrite ?? '–',
      ]),
    ) +
    (m.backends ? renderBackends(m.backends) : '')
  );
}

function renderBackends(b: MemberExperiment): string {
  const ips = b.splits[0]?.backends.map((x) => x.ip) ?? [];
  return (
    `<h3>Connections per backend (the selector's hash split)</h3>` +
    '<p>Established connections on the service port, counted inside each backend container. The experiment deactivates the last' +
    ` member (${esc(b.member)}) with /setMemberStatus, opens new connections through the VIP, and re-activates it.</p>` +
    table(
      ['when', ...ips, "load generator's connection drops (cumulative)"],
      b.splits.map((s) => [
        s.at,
        ...s.backends.map((x) => (x.established === null ? '?' : String(x.established))),
        s.client_drops == null ? '–' : String(s.client_drops),
      ]),
    ) +
    `<p>New connections while ${esc(b.member)} was inactive: ${Object.entries(b.new_connections)
      .map(([ip, n]) => `${esc(ip)} +${n}`)
      .join(', ')}` +
    ` (${b.new_connections_held ?? '?'} held). Finding on the switch model: ${esc(b.finding)}.</p>` +
    '<p class="sub">The model re-hashes over the active members (jhash mod their count), so a deactivation can move flows of' +
    ' every member, and the re-activation moves them again. On the ASIC (FAIR selector, load_balancer.p4) the selector also' +
    " picks only among active members, so the deactivated member's established flows leave it there too and new connections" +
    ' never reach it; whether flows of the other members move as well depends on how the SDE lays out the FAIR group' +
    ' (a RESILIENT selector would keep them). Not measured: there is no Tofino here.</p>'
  );
}
