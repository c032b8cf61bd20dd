// Keys of the run itself: which testbed, and what the experiment measures.
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { type KeyDecl, SCHEDULE, SCHEDULE_HINT, t } from './types.ts';

export const MODE_KEYS = {
  TESTBED: {
    group: 'mode',
    type: t.enum(['local', 'hw'] as const),
    default: 'local',
    description: 'local: emulate switch and servers in network namespaces on this machine; hw: drive the real testbed over SSH',
  },
  TESTBED_PREFIX: {
    group: 'mode',
    type: t.string(/^[a-z0-9]{1,5}-$/, '1-5 lowercase letters/digits and a dash, e.g. p4cf-'),
    default: 'p4cf-',
    description: 'Prefix of every namespace, link, container and network the local testbed creates',
  },
  ARCH: {
    group: 'mode',
    type: t.enum(['tf1', 'tf2'] as const),
    default: 'tf1',
    description: 'Tofino generation: tf1 runs tna_load_balancer, tf2 runs t2na_load_balancer',
  },
} as const satisfies Record<string, KeyDecl>;

export const EXPERIMENT_KEYS = {
  STEADY_STATE: {
    group: 'experiment',
    type: t.duration,
    default: '15s',
    flag: '--steady-state',
    description: 'Time to measure steady state before the first migration (flag takes seconds)',
  },
  POST_MIGRATION: {
    group: 'experiment',
    type: t.duration,
    default: '30s',
    flag: '--post-migration',
    description: 'Time to measure after each migration (flag takes seconds)',
  },
  MIGRATIONS: {
    group: 'experiment',
    type: t.int(0, 10000),
    default: '1',
    flag: '--migrations',
    description: 'Number of migrations; MIGRATION_SCHEDULE says between which servers',
  },
  MIGRATION_SCHEDULE: {
    group: 'experiment',
    type: t.string(SCHEDULE, SCHEDULE_HINT),
    default: 'alternate',
    description:
      'Where each migration goes: alternate = first ↔ second of SERVERS; round-robin = through SERVERS in order and back to the first; random:SEED = each time another server, drawn with that seed; list:a,b,… = the container visits these servers in order, cyclically (it starts on the first)',
  },
  RESULTS_DIR: {
    group: 'experiment',
    type: t.path,
    default: 'results',
    description: 'Folder that receives one run_YYYYMMDD_HHMMSS folder per run',
  },
  MIGRATION_MODE: {
    group: 'experiment',
    type: t.enum(['same-ip', 'vip'] as const),
    default: 'same-ip',
    description:
      'same-ip: the published experiment (the container keeps H2_IP, clients connect to it, the switch only forwards); vip: clients connect to VIP:SIGNALING_PORT, the switch load-balances to the backend, and a migration to the second server restores the container as H3_IP/H3_MAC (socket addresses rewritten in the checkpoint, /migrateNode re-targets the member)',
  },
  BACKENDS: {
    group: 'experiment',
    type: t.int(1, 4),
    default: '1',
    description:
      'vip mode (two SERVERS only): server containers behind the VIP (1-4, the selector group size). Backend 1 is the migrated container (H2/H3); backend k ≥ 2 runs on the second (even k) or first (odd k) server at HW_SUBNET host 20+k (MAC 02:42 + its address); with 2 or more the migrate phase first deactivates and re-activates the last member (/setMemberStatus) and records the connection split in backends.json',
  },
  RTO_MIN_MS: {
    group: 'experiment',
    type: t.int(0, 10000),
    default: '5',
    description: 'rto_min on the data routes in ms, on both ends; 0 keeps the kernel default (200 ms; see README, The RTO stall)',
  },
} as const satisfies Record<string, KeyDecl>;
