// The servers of a configuration: which `<NAME>_<FIELD>` keys SERVERS implies, in which order they
// are listed, their defaults, and the checks across servers (one switch port and one direct-link
// address each, hardware values set, names that exist). Used by load.ts before any host is touched.
import type { Config, ConfigKey, KeyDecl, KeyName } from './keys.ts';
import { KEYS } from './keys.ts';
import {
  RESERVED_HOSTS,
  SERVER_FIELDS,
  SERVER_KEY_TEMPLATE,
  type ServerField,
  serverKey,
  serverKeyDecl,
} from './keys/servers.ts';
import { KEY_NAMES, suggestKey } from './values.ts';

const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** Host h of a management subnet (the default subnet when `subnet` does not parse; MGMT_SUBNET reports that itself). */
export function subnetHost(subnet: string): (h: number) => string {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(subnet.trim());
  const base = m ? ipToInt(m[1]) - (ipToInt(m[1]) % 2 ** (32 - Number(m[2]))) : ipToInt('10.199.0.0');
  return (h) => intToIp(base + h);
}

/** Every key of a configuration with these servers, in the order of config.env and --print-config. */
export function configKeys(servers: readonly string[]): ConfigKey[] {
  const out: ConfigKey[] = [];
  for (const k of KEY_NAMES) {
    out.push(k);
    for (const f of SERVER_FIELDS) if (SERVER_KEY_TEMPLATE[f].after === k) for (const s of servers) out.push(serverKey(s, f));
  }
  return out;
}

/** The declaration of a key of this configuration: a declared key, or the template instantiated for one server. */
export function declOf(key: ConfigKey, servers: readonly string[], mgmtSubnet: string): KeyDecl | undefined {
  if (Object.hasOwn(KEYS, key)) return KEYS[key as KeyName];
  for (const f of SERVER_FIELDS) {
    const i = servers.findIndex((s) => serverKey(s, f) === key);
    if (i >= 0) return serverKeyDecl(servers[i], i, f, subnetHost(mgmtSubnet));
  }
  return undefined;
}

/** A key naming a server not in SERVERS (e.g. BOULDER_SSH without boulder): what to say. */
export function unknownServerKey(
  key: string,
  origin: string,
  name: string,
  servers: readonly string[],
  serversOrigin: string,
): string {
  const s = suggestKey(
    key,
    configKeys(servers).filter((k) => !(k in KEYS)),
  );
  return `${key} (from ${origin}): server ${name} is not in SERVERS=${servers.join(',')} (from ${serversOrigin})${s && s !== key ? `; did you mean ${s}?` : ''}; add ${name} to SERVERS or remove the key`;
}

type Origins = Record<string, string>;

/** Checks across the servers' keys and the keys that name servers; each message names the key and its origin. */
export function serverProblems(
  c: Config,
  raw: Record<string, string>,
  origins: Origins,
  testbed: 'local' | 'hw',
  localDefault: (origin: string) => boolean,
): string[] {
  const out: string[] = [];
  const servers = c.SERVERS;
  const at = (k: string) => `${k}=${raw[k]} (from ${origins[k]})`;
  const val = (k: string) => String((c as unknown as Record<string, unknown>)[k]);
  const reserved = servers.filter((s) => (RESERVED_HOSTS as readonly string[]).includes(s));
  if (reserved.length)
    out.push(
      `SERVERS=${raw.SERVERS} (from ${origins.SERVERS}): ${reserved.join(', ')} is the name of another host; rename the server`,
    );
  const unique = (field: ServerField, what: string) => {
    const seen = new Map<string, string>();
    for (const s of servers) {
      const k = serverKey(s, field);
      const v = val(k);
      const first = seen.get(v);
      if (first) out.push(`${at(k)} is also ${at(first)}: ${what}`);
      else seen.set(v, k);
    }
  };
  unique('SW_PORT', 'two servers on one switch port; give each server its own port');
  unique('DIRECT_IP', 'two servers with one direct-link address; give each its own');
  const direct = servers.map((s) => serverKey(s, 'DIRECT_IP'));
  const net = (k: string) => ipToInt(val(k)) >>> 8;
  const off = direct.filter((k) => net(k) !== net(direct[0]));
  if (off.length)
    out.push(
      `${off.map(at).join(', ')}: not in the /24 of ${at(direct[0])}; the servers' direct-link addresses share one /24 (one direct network)`,
    );
  if (testbed === 'hw') {
    // The derived values are the local testbed's; a lab's servers must be named explicitly.
    for (const [i, s] of servers.entries()) {
      const fields = i < 2 ? (['SSH'] as const) : SERVER_FIELDS;
      for (const f of fields) {
        const k = serverKey(s, f);
        if (localDefault(origins[k]))
          out.push(
            `${k} is not set for the hardware testbed (it would be the local testbed's ${raw[k]} from ${origins[k]}): set it in the hardware overlay (config_hw.env or --config FILE), the environment or with --set`,
          );
      }
    }
  }
  if (c.LOADGEN_HOST && !servers.includes(c.LOADGEN_HOST))
    out.push(`${at('LOADGEN_HOST')}: not one of SERVERS=${servers.join(',')} (from ${origins.SERVERS})`);
  const list = c.MIGRATION_SCHEDULE.startsWith('list:') ? c.MIGRATION_SCHEDULE.slice(5).split(',') : [];
  const unknown = list.filter((s) => !servers.includes(s));
  if (unknown.length)
    out.push(
      `${at('MIGRATION_SCHEDULE')}: ${unknown.join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not in SERVERS=${servers.join(',')} (from ${origins.SERVERS})`,
    );
  const stay = list.findIndex((s, i) => s === list[(i + 1) % list.length]);
  if (stay >= 0)
    out.push(
      `${at('MIGRATION_SCHEDULE')}: ${list[stay]} follows itself${stay === list.length - 1 ? ' (the list repeats: its last entry is followed by its first)' : ''}; a migration goes to another server`,
    );
  if (c.MIGRATION_MODE === 'vip' && servers.length > 2)
    out.push(
      `SERVERS=${raw.SERVERS} (from ${origins.SERVERS}) has ${servers.length} servers, but MIGRATION_MODE=vip (from ${origins.MIGRATION_MODE}) works with two (the backend addresses H2/H3 are per server); use two servers or MIGRATION_MODE=same-ip`,
    );
  return out;
}
