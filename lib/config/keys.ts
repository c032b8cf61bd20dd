// Every configuration key of p4cf, declared once: type, default, one-line description.
// config.env, config_hw.env, environment variables and CLI flags are all checked against
// this table, and the README's config reference is generated from it.
//
// Defaults describe the local testbed, laid out like the published hardware testbed
// (192.168.12.0/24, switch ports 140/148), so local and hardware runs share every key.

import { WORKLOAD_NAMES } from '../../experiments/workloads/names.ts';

export type KeyType =
  | { kind: 'ipv4' }
  | { kind: 'cidr' }
  | { kind: 'mac' }
  | { kind: 'port' }
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'duration' }
  | { kind: 'path' }
  | { kind: 'ssh' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' }
  | { kind: 'string'; pattern?: RegExp; hint?: string }
  | { kind: 'hostport' }
  | { kind: 'url'; optional?: boolean };

export interface KeyDecl {
  type: KeyType;
  default: string;
  description: string;
  group: string;
  secret?: boolean;
  /** CLI flag that sets this key, e.g. --steady-state */
  flag?: string;
}

const t = {
  ipv4: { kind: 'ipv4' } as const,
  cidr: { kind: 'cidr' } as const,
  mac: { kind: 'mac' } as const,
  port: { kind: 'port' } as const,
  int: (min?: number, max?: number) => ({ kind: 'int', min, max }) as const,
  duration: { kind: 'duration' } as const,
  path: { kind: 'path' } as const,
  ssh: { kind: 'ssh' } as const,
  enum: <const V extends readonly string[]>(values: V) => ({ kind: 'enum', values }) as const,
  bool: { kind: 'bool' } as const,
  string: (pattern?: RegExp, hint?: string) => ({ kind: 'string', pattern, hint }) as const,
  hostport: { kind: 'hostport' } as const,
  url: { kind: 'url', optional: true } as const,
};

export const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const IFHINT = 'an interface name (1-15 characters: letters, digits, _ . -)';
const NAME = /^[a-z0-9][a-z0-9_.-]*$/;
const NAMEHINT = 'a lowercase name (letters, digits, _ . -)';
const RATE = /^$|^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/;
const RATEHINT = 'empty (unshaped) or a rate with its unit: 25gbit, 1gbit, 100mbit, 500kbit';
const TIME = /^$|^\d+(\.\d+)?(us|ms|s)$/;
const TIMEHINT = 'empty or a time with its unit: 5ms, 200us, 1s';

export const KEYS = {
  // --- mode -----------------------------------------------------------------------------
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

  // --- experiment -----------------------------------------------------------------------
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
    description: 'Number of migrations, alternating lakewood→loveland and back',
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
      'same-ip: the published experiment (the container keeps H2_IP, clients connect to it, the switch only forwards); vip: clients connect to VIP:SIGNALING_PORT, the switch load-balances to the backend, and a migration to loveland restores the container as H3_IP/H3_MAC (socket addresses rewritten in the checkpoint, /migrateNode re-targets the member)',
  },
  BACKENDS: {
    group: 'experiment',
    type: t.int(1, 4),
    default: '1',
    description:
      'vip mode: server containers behind the VIP (1-4, the selector group size). Backend 1 is the migrated container (H2/H3); backend k ≥ 2 runs on loveland (even k) or lakewood (odd k) at HW_SUBNET host 20+k (MAC 02:42 + its address); with 2 or more the migrate phase first deactivates and re-activates the last member (/setMemberStatus) and records the connection split in backends.json',
  },
  RTO_MIN_MS: {
    group: 'experiment',
    type: t.int(0, 10000),
    default: '5',
    description: 'rto_min on the data routes in ms, on both ends; 0 keeps the kernel default (200 ms; see README, The RTO stall)',
  },

  // --- ssh / hosts ----------------------------------------------------------------------
  TOFINO_SSH: {
    group: 'hosts',
    type: t.ssh,
    default: 'root@10.199.0.2:22',
    description: 'SSH target of the switch (runs switchd and the controller)',
  },
  LAKEWOOD_SSH: {
    group: 'hosts',
    type: t.ssh,
    default: 'root@10.199.0.3:22',
    description: 'SSH target of server lakewood (first home of the container; runs the load generator)',
  },
  LOVELAND_SSH: { group: 'hosts', type: t.ssh, default: 'root@10.199.0.4:22', description: 'SSH target of server loveland' },
  SUDO: {
    group: 'hosts',
    type: t.enum(['auto', 'always', 'never'] as const),
    default: 'auto',
    description:
      'How root commands (podman, ip, nft, criu) run on the hosts: auto = through `sudo -n` when the *_SSH user is not root; always; never. Preflight checks `sudo -n true` and names the sudoers line to add',
  },
  SSH_KEY: {
    group: 'hosts',
    type: t.path,
    default: '.testbed/ssh/id_ed25519',
    description: 'Private key the orchestrator logs in with',
  },
  SSH_KNOWN_HOSTS: {
    group: 'hosts',
    type: t.path,
    default: '.testbed/ssh/known_hosts',
    description: 'known_hosts file that pins every host key (host keys are always checked)',
  },
  SSH_CONNECT_TIMEOUT: {
    group: 'hosts',
    type: t.duration,
    default: '10s',
    description: 'Time to wait for an SSH connection before failing',
  },
  MGMT_SUBNET: {
    group: 'hosts',
    type: t.cidr,
    default: '10.199.0.0/24',
    description:
      'Local testbed only: management network (SSH, metrics) between this machine (.1) and tofino (.2), lakewood (.3), loveland (.4)',
  },
  REMOTE_PROJECT_DIR: {
    group: 'hosts',
    type: t.path,
    default: '/var/tmp/p4cf/{host}',
    description: 'Where code is synced on each host; {host} is replaced by the host name',
  },

  // --- data network -----------------------------------------------------------------------
  HW_SUBNET: { group: 'network', type: t.cidr, default: '192.168.12.0/24', description: 'Container subnet behind the switch' },
  HW_GATEWAY: { group: 'network', type: t.ipv4, default: '192.168.12.1', description: 'Gateway address of the container subnet' },
  HW_NET: {
    group: 'network',
    type: t.string(NAME, NAMEHINT),
    default: 'switch-net',
    description: 'Name of the podman macvlan network on each server',
  },
  VIP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.12.10',
    description: 'Virtual IP of the load balancer: what clients connect to in MIGRATION_MODE=vip (unused in same-ip mode)',
  },
  H1_IP: { group: 'network', type: t.ipv4, default: '192.168.12.1', description: 'Node h1 address in the controller config' },
  H1_MAC: { group: 'network', type: t.mac, default: '02:42:c0:a8:0c:01', description: 'Node h1 MAC' },
  H2_IP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.12.2',
    description: 'Server container address (kept across migrations in same-ip mode; its address on lakewood in vip mode)',
  },
  H2_MAC: { group: 'network', type: t.mac, default: '02:42:c0:a8:0c:02', description: 'Server container fixed MAC' },
  H3_IP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.12.3',
    description: "Node h3 address in the controller config; in vip mode the server container's address on loveland",
  },
  H3_MAC: {
    group: 'network',
    type: t.mac,
    default: '02:42:c0:a8:0c:03',
    description: "Node h3 MAC (the server container's MAC on loveland in vip mode)",
  },
  SHIM_IP: { group: 'network', type: t.ipv4, default: '192.168.12.100', description: 'Load generator shim address on lakewood' },
  SHIM_MAC: { group: 'network', type: t.mac, default: '02:42:c0:a8:0c:64', description: 'Load generator shim MAC' },
  MACSHIM_IF: {
    group: 'network',
    type: t.string(IFNAME, IFHINT),
    default: 'macshim',
    description: 'Name of the macvlan shim interface on lakewood',
  },
  LAKEWOOD_NIC: {
    group: 'network',
    type: t.string(IFNAME, IFHINT),
    default: 'p4cf-nic',
    description: 'lakewood NIC cabled to the switch',
  },
  LOVELAND_NIC: {
    group: 'network',
    type: t.string(IFNAME, IFHINT),
    default: 'p4cf-nic',
    description: 'loveland NIC cabled to the switch',
  },
  LAKEWOOD_SW_PORT: { group: 'network', type: t.int(0, 511), default: '140', description: 'Switch dev port of lakewood' },
  LOVELAND_SW_PORT: { group: 'network', type: t.int(0, 511), default: '148', description: 'Switch dev port of loveland' },
  LAKEWOOD_DIRECT_IP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.10.2',
    description: 'lakewood address on the direct server link (checkpoint transfer)',
  },
  LOVELAND_DIRECT_IP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.10.3',
    description: 'loveland address on the direct server link',
  },
  LAKEWOOD_DIRECT_IF: {
    group: 'network',
    type: t.string(IFNAME, IFHINT),
    default: 'p4cf-direct',
    description: 'lakewood interface of the direct link',
  },
  LOVELAND_DIRECT_IF: {
    group: 'network',
    type: t.string(IFNAME, IFHINT),
    default: 'p4cf-direct',
    description: 'loveland interface of the direct link',
  },
  NIC_MTU: { group: 'network', type: t.int(576, 9216), default: '9000', description: 'MTU set on the switch NICs during build' },
  NIC_OFFLOADS: {
    group: 'network',
    type: t.enum(['auto', 'original', 'p4cf', 'keep'] as const),
    default: 'auto',
    description:
      'Offloads turned off on the switch NICs: original = tx, rx, sg (the published scripts), p4cf = gro, gso, tso, lro, keep = none; auto = original on hardware, p4cf on the local testbed',
  },
  DIRECT_LINK_SETUP: {
    group: 'network',
    type: t.enum(['auto', 'up', 'none'] as const),
    default: 'auto',
    description:
      'up: build brings each *_DIRECT_IF up with its *_DIRECT_IP/24 if missing (as the published scripts did; an address it added goes again at the end); none: leave the direct link as it is; auto = up on hardware, none on the local testbed (the testbed made it)',
  },

  // --- switch ----------------------------------------------------------------------------
  BFRT_GRPC_ADDR: {
    group: 'switch',
    type: t.hostport,
    default: '127.0.0.1:50052',
    description: 'BF Runtime gRPC address of switchd, as seen on the switch',
  },
  SWITCH_PORT_SPEED: {
    group: 'switch',
    type: t.string(/^BF_SPEED_\w+$/, 'BF_SPEED_<rate>, e.g. BF_SPEED_25G'),
    default: 'BF_SPEED_25G',
    description: 'Speed of the server ports in the $PORT table',
  },
  SWITCH_PORT_FEC: {
    group: 'switch',
    type: t.string(/^BF_FEC_TYP_\w+$/, 'BF_FEC_TYP_<type>'),
    default: 'BF_FEC_TYP_REED_SOLOMON',
    description: 'FEC of the server ports',
  },
  SWITCH_PORT_AN: {
    group: 'switch',
    type: t.string(/^PM_AN_\w+$/, 'PM_AN_<mode>'),
    default: 'PM_AN_DEFAULT',
    description: 'Auto-negotiation of the server ports',
  },
  SWITCHD_READY_TIMEOUT: {
    group: 'switch',
    type: t.duration,
    default: '120s',
    description: 'Time switchd may take until its gRPC port answers',
  },
  SDE: { group: 'switch', type: t.path, default: '/opt/bf-sde', description: 'Hardware only: SDE source tree on the switch' },
  SDE_INSTALL: {
    group: 'switch',
    type: t.path,
    default: '/opt/bf-sde/install',
    description: 'Hardware only: SDE install prefix on the switch',
  },
  SWITCHD_CONF: {
    group: 'switch',
    type: t.path,
    default: 'conf/{program}.conf',
    description:
      'Hardware only: switchd conf file on the switch, relative to the synced project dir there (sync puts p4/conf/ at conf/) unless absolute; {program} becomes tna_load_balancer (ARCH=tf1) or t2na_load_balancer (tf2)',
  },
  SWITCHD_DEVICE: {
    group: 'switch',
    type: t.path,
    default: '/dev/bf0',
    description:
      'Hardware only: the ASIC device node bf_switchd opens (made by the bf_kdrv or bf_kpkt kernel module); checked before switchd starts unless the conf is for the model (virtual chip)',
  },

  // --- controller ---------------------------------------------------------------------------
  CONTROLLER_PORT: { group: 'controller', type: t.port, default: '5000', description: 'Controller HTTP port on the switch' },
  CONTROLLER_LISTEN: {
    group: 'controller',
    type: t.ipv4,
    default: '127.0.0.1',
    description: 'Address the controller listens on (reached through an SSH forward when 127.0.0.1)',
  },
  CONTROLLER_TOKEN: {
    group: 'controller',
    type: t.string(/^[\x21-\x7e]*$/, 'printable characters without spaces'),
    default: '',
    secret: true,
    description: 'Bearer token the controller requires; empty = none',
  },
  SWITCH_UPDATE_FROM: {
    group: 'controller',
    type: t.enum(['auto', 'control', 'source'] as const),
    default: 'auto',
    description:
      "Who sends each migration's POST /updateForward: source = the source server, as the published scripts did (needs CONTROLLER_LISTEN reachable from the servers), control = this machine through its SSH forward; auto = source on hardware when CONTROLLER_LISTEN is not a loopback address, control otherwise",
  },
  CONTROLLER_URL: {
    group: 'controller',
    type: t.url,
    default: '',
    description: 'Controller URL reachable from this machine; empty = an SSH forward to the switch',
  },
  CONTROLLER_CONFIG: {
    group: 'controller',
    type: t.path,
    default: '',
    description: 'Controller JSON config; empty = generated from this config',
  },

  // --- workload ---------------------------------------------------------------------------
  WORKLOAD: {
    group: 'workload',
    type: t.enum(WORKLOAD_NAMES),
    default: 'stream',
    description:
      'Workload to migrate: a folder experiments/workloads/<name>/ listed in experiments/workloads/index.ts (stream: WebSocket stream server; redis: redis-server and a RESP client)',
  },
  SIGNALING_PORT: {
    group: 'workload',
    type: t.port,
    default: '8080',
    description:
      "Service port of the workload's server: the stream server's WebSocket (and /health) port; redis listens on it too",
  },
  METRICS_PORT: { group: 'workload', type: t.port, default: '8081', description: 'Prometheus port of the stream server' },
  LOADGEN_METRICS_PORT: {
    group: 'workload',
    type: t.port,
    default: '9090',
    description: 'Prometheus port of the load generator',
  },
  SSH_TUNNEL_LOCAL_PORT: {
    group: 'workload',
    type: t.port,
    default: '19090',
    description: 'Local end of the forward to the load generator metrics',
  },
  SSH_TUNNEL_METRICS_PORT: {
    group: 'workload',
    type: t.port,
    default: '18081',
    description: 'Local end of the forward to the server metrics',
  },
  METRICS_INTERVAL: { group: 'workload', type: t.duration, default: '1s', description: 'Collector scrape interval' },
  LOADGEN_CONNECTIONS: {
    group: 'workload',
    type: t.int(1, 10000),
    default: '4',
    description: 'Connections of the load generator (stream: WebSocket; redis: RESP)',
  },
  STATE_MB: {
    group: 'workload',
    type: t.int(0, 65536),
    default: '0',
    description:
      'MB of application state the server holds and keeps modifying (checkpoint size grows with it): downtime against state size; redis: MB its client preloads as 1 MiB values',
  },
  LOADGEN_RAMP: {
    group: 'workload',
    type: t.duration,
    default: '200ms',
    description:
      'Pause between opening two load generator connections (200ms: the published behaviour; 0ms opens them all at once)',
  },
  LOADGEN_FPS: {
    group: 'workload',
    type: t.int(1, 1000),
    default: '30',
    description: 'Data frames per second per connection (redis: write + read-back ticks per second per connection)',
  },
  FRAME_PADDING: { group: 'workload', type: t.int(0, 1048576), default: '512', description: 'Padding bytes per data frame' },
  RTT_CAP: { group: 'workload', type: t.duration, default: '1000ms', description: 'RTTs above this are discarded as stale' },
  SERVER_IMAGE: {
    group: 'workload',
    type: t.string(/^[a-z0-9][a-z0-9_./-]*(:[\w.-]+)?$/, 'an image name'),
    default: 'localhost/p4cf-stream-server',
    description:
      'Image name of the stream server, built locally without any registry (other workloads name theirs in their record: redis localhost/p4cf-redis-server)',
  },
  SERVER_CONTAINER: {
    group: 'workload',
    type: t.string(NAME, NAMEHINT),
    default: 'p4cf-server',
    description: 'Name of the server container',
  },

  // --- migration --------------------------------------------------------------------------
  CHECKPOINT_DIR: {
    group: 'migration',
    type: t.path,
    default: '/var/tmp/p4cf/{host}/checkpoints',
    description: 'Checkpoint folder on each server; {host} is replaced by the host name',
  },
  MIGRATION_ENGINE: {
    group: 'migration',
    type: t.enum(['podman', 'runc'] as const),
    default: 'podman',
    description:
      'podman: checkpoint --export / restore --import (the published procedure); runc: freeze, runc checkpoint to a folder streamed over the direct link, podman restore of the same container record (needs podman storage both servers share: local testbed)',
  },
  TRANSFER_METHOD: {
    group: 'migration',
    type: t.enum(['auto', 'socat', 'node'] as const),
    default: 'auto',
    description: 'Checkpoint transfer: auto measures socat against a Node stream once and keeps the faster',
  },
  TRANSFER_PORT: {
    group: 'migration',
    type: t.port,
    default: '19500',
    description: 'TCP port of the checkpoint transfer on the direct link',
  },
  DRAIN_TIMEOUT: {
    group: 'migration',
    type: t.duration,
    default: '2s',
    description: 'Longest wait for the server send queues to drain before the checkpoint',
  },
  TRANSFER_STALL_TIMEOUT: {
    group: 'migration',
    type: t.duration,
    default: '5s',
    description:
      'Checkpoint transfer: longest connect attempt and longest stretch without data before the transfer is aborted (and the server restored on the source)',
  },
  CR_SKIP_VERIFY: {
    group: 'migration',
    type: t.bool,
    default: 'false',
    description: 'Skip the checkpoint size check after transfer',
  },
  CR_SKIP_IMAGE_CHECK: {
    group: 'migration',
    type: t.bool,
    default: 'false',
    description: 'Skip checking that the image exists on the target',
  },

  // --- link emulation (local testbed only) ------------------------------------------------
  LINK_RATE: {
    group: 'links',
    type: t.string(RATE, RATEHINT),
    default: '',
    description: 'Rate of each switch-port link, both directions (tbf on both veth ends), e.g. 25gbit, 1gbit; empty: unshaped',
  },
  LINK_DELAY: {
    group: 'links',
    type: t.string(TIME, TIMEHINT),
    default: '',
    description: 'Delay added on each switch-port link end (netem: needs a kernel with sch_netem), e.g. 5ms',
  },
  LINK_JITTER: {
    group: 'links',
    type: t.string(TIME, TIMEHINT),
    default: '',
    description: 'Delay variation of the switch-port links (needs LINK_DELAY), e.g. 1ms',
  },
  LINK_LOSS: {
    group: 'links',
    type: t.string(/^$|^(100|\d{1,2}(\.\d+)?)%$/, 'empty or a percentage such as 0.1% or 1%'),
    default: '',
    description: 'Random loss of packets arriving at each switch-port link end (nftables), e.g. 0.1%',
  },
  DIRECT_LINK_RATE: {
    group: 'links',
    type: t.string(RATE, RATEHINT),
    default: '',
    description: 'Rate of the direct (checkpoint transfer) link, both directions (tbf), e.g. 1gbit',
  },
  DIRECT_LINK_DELAY: {
    group: 'links',
    type: t.string(TIME, TIMEHINT),
    default: '',
    description: 'Delay added on each end of the direct link (netem, needs sch_netem), e.g. 1ms',
  },
} as const satisfies Record<string, KeyDecl>;

export type KeyName = keyof typeof KEYS;

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

type ValueOf<T extends KeyType> = T extends { kind: 'port' | 'int' | 'duration' }
  ? number
  : T extends { kind: 'bool' }
    ? boolean
    : T extends { kind: 'ssh' }
      ? SshTarget
      : T extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;

/** The effective configuration: durations in milliseconds, ports and integers as numbers. */
export type Config = { [K in KeyName]: ValueOf<(typeof KEYS)[K]['type']> };
