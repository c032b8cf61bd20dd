// The per-server keys, declared once as a template: for each name in SERVERS there is one
// `<NAME>_<FIELD>` key per field below (LAKEWOOD_SSH, BOULDER_SW_PORT, …), parsed and validated like
// every declared key. The defaults of the first two servers are the published testbed's (ports
// 140/148, direct link .2/.3); later servers get derived local-testbed values (next port, next
// address), which a hardware testbed must replace (lib/config/load.ts refuses them there).
import { type KeyDecl, IFHINT, IFNAME, t } from './types.ts';

/** A server's settings other than its name: what `<NAME>_<FIELD>` keys exist. */
export type ServerField = 'SSH' | 'NIC' | 'SW_PORT' | 'DIRECT_IP' | 'DIRECT_IF';

export interface ServerKeyTemplate extends Omit<KeyDecl, 'default' | 'description'> {
  /** The static key after which this field's keys appear (config.env, --print-config, README). */
  after: string;
  /** The default of the i-th server (0-based); `mgmt(h)` is host h of MGMT_SUBNET. */
  default: (i: number, mgmt: (h: number) => string) => string;
  /** How the default is shown in the reference. */
  defaultDoc: string;
  /** `{name}` becomes the server's name. */
  description: string;
}

export const SERVER_KEY_TEMPLATE: Record<ServerField, ServerKeyTemplate> = {
  SSH: {
    group: 'hosts',
    after: 'SERVERS',
    type: t.ssh,
    default: (i, mgmt) => `root@${mgmt(3 + i)}:22`,
    defaultDoc: 'root@<MGMT_SUBNET host 3+i>:22 (i = position in SERVERS from 0: 10.199.0.3, .4, …)',
    description: 'SSH target of server {name}',
  },
  NIC: {
    group: 'network',
    after: 'MACSHIM_IF',
    type: t.string(IFNAME, IFHINT),
    default: () => 'p4cf-nic',
    defaultDoc: 'p4cf-nic',
    description: '{name} NIC cabled to the switch',
  },
  SW_PORT: {
    group: 'network',
    after: 'MACSHIM_IF',
    type: t.int(0, 511),
    default: (i) => String(140 + 8 * i),
    defaultDoc: '140+8i (140, 148, 156, …)',
    description: 'Switch dev port of {name} (one server per port)',
  },
  DIRECT_IP: {
    group: 'network',
    after: 'MACSHIM_IF',
    type: t.ipv4,
    default: (i) => `192.168.10.${2 + i}`,
    defaultDoc: '192.168.10.(2+i)',
    description: '{name} address on the direct server network (checkpoint transfer; all in one /24)',
  },
  DIRECT_IF: {
    group: 'network',
    after: 'MACSHIM_IF',
    type: t.string(IFNAME, IFHINT),
    default: () => 'p4cf-direct',
    defaultDoc: 'p4cf-direct',
    description: '{name} interface of the direct server network',
  },
};

export const SERVER_FIELDS = Object.keys(SERVER_KEY_TEMPLATE) as ServerField[];

/** A server name: a key prefix (upper-cased) and part of namespace and interface names (≤ 9 characters). */
export const SERVER_NAME = /^[a-z][a-z0-9]{0,8}$/;
export const SERVER_NAME_HINT = 'a lower-case identifier of 1-9 letters and digits, starting with a letter';
/** Host names the framework uses for other machines. */
export const RESERVED_HOSTS = ['tofino', 'local'] as const;
export const MIN_SERVERS = 2;
export const MAX_SERVERS = 8;

/** The key of one server's field: serverKey('boulder', 'SW_PORT') → 'BOULDER_SW_PORT'. */
export const serverKey = <F extends ServerField>(name: string, field: F): `${Uppercase<string>}_${F}` =>
  `${name.toUpperCase()}_${field}` as `${Uppercase<string>}_${F}`;

/** `<NAME>_<FIELD>` → its server name and field, when `key` has that shape (the name is not checked against SERVERS). */
export function parseServerKey(key: string): { name: string; field: ServerField } | undefined {
  // longest field first: DIRECT_IP before a hypothetical IP
  for (const field of [...SERVER_FIELDS].sort((a, b) => b.length - a.length)) {
    const suffix = `_${field}`;
    if (key.endsWith(suffix) && key.length > suffix.length) {
      const name = key.slice(0, -suffix.length).toLowerCase();
      if (SERVER_NAME.test(name) && key.slice(0, -suffix.length) === name.toUpperCase()) return { name, field };
    }
  }
  return undefined;
}

/** The declaration of one server's field, as the loader, --print-config and the docs use it. */
export function serverKeyDecl(name: string, index: number, field: ServerField, mgmt: (h: number) => string): KeyDecl {
  const tpl = SERVER_KEY_TEMPLATE[field];
  return {
    group: tpl.group,
    type: tpl.type,
    default: tpl.default(index, mgmt),
    description: tpl.description.replaceAll('{name}', name),
  };
}
