// Every configuration key of p4cf, declared once: type, default, one-line description.
// config.env, config_hw.env, environment variables and CLI flags are all checked against
// this table, and the README's config reference is generated from it.
//
// Defaults describe the local testbed, laid out like the published hardware testbed
// (192.168.12.0/24, switch ports 140/148), so local and hardware runs share every key.
// The per-server keys (<NAME>_SSH, …) are a template in keys/servers.ts, one set per SERVERS name.
//
// The declarations live in lib/config/keys/*.ts by group; KEYS puts the groups in order (the order of
// config.env and of the README reference).

import { CONTROLLER_KEYS, SWITCH_KEYS } from './keys/switch.ts';
import { HOSTS_KEYS } from './keys/hosts.ts';
import { LINKS_KEYS, MIGRATION_KEYS } from './keys/migration.ts';
import { NETWORK_KEYS } from './keys/network.ts';
import { EXPERIMENT_KEYS, MODE_KEYS } from './keys/run.ts';
import type { KeyDecl, KeyType } from './keys/types.ts';
import { WORKLOAD_KEYS } from './keys/workload.ts';

import type { ServerField } from './keys/servers.ts';

export { IFNAME, type KeyDecl, type KeyType } from './keys/types.ts';

export const KEYS = {
  ...MODE_KEYS,
  ...EXPERIMENT_KEYS,
  ...HOSTS_KEYS,
  ...NETWORK_KEYS,
  ...SWITCH_KEYS,
  ...CONTROLLER_KEYS,
  ...WORKLOAD_KEYS,
  ...MIGRATION_KEYS,
  ...LINKS_KEYS,
} as const satisfies Record<string, KeyDecl>;

export type KeyName = keyof typeof KEYS;
/** A per-server key `<NAME>_<FIELD>` (lib/config/keys/servers.ts); which exist depends on SERVERS. */
export type ServerKeyName = `${string}_${ServerField}`;
/** Any key a configuration holds: a declared one or a server's. */
export type ConfigKey = KeyName | ServerKeyName;

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

type ValueOf<T extends KeyType> = T extends { kind: 'list' }
  ? readonly string[]
  : T extends { kind: 'port' | 'int' | 'duration' }
    ? number
    : T extends { kind: 'bool' }
      ? boolean
      : T extends { kind: 'ssh' }
        ? SshTarget
        : T extends { kind: 'enum'; values: readonly (infer V)[] }
          ? V
          : string;

/** The values of the servers' keys: one of each for every name in SERVERS. */
export interface ServerValues {
  [k: `${string}_SSH`]: SshTarget;
  [k: `${string}_NIC`]: string;
  [k: `${string}_SW_PORT`]: number;
  [k: `${string}_DIRECT_IP`]: string;
  [k: `${string}_DIRECT_IF`]: string;
}

/**
 * The effective configuration: durations in milliseconds, ports and integers as numbers, and the
 * keys of every server in SERVERS (read them through serverNode() in lib/server/net.ts).
 */
export type Config = { [K in KeyName]: ValueOf<(typeof KEYS)[K]['type']> } & ServerValues;
