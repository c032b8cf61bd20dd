// Keys of the switch (switchd, SDE, ports) and of the load-balancer controller on it.
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { type KeyDecl, t } from './types.ts';

export const SWITCH_KEYS = {
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
} as const satisfies Record<string, KeyDecl>;

export const CONTROLLER_KEYS = {
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
} as const satisfies Record<string, KeyDecl>;
