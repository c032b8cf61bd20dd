// Keys of the data network: container subnet, node addresses, NIC settings, the direct link.
// Each server's NIC, switch port and direct-link address are template keys (servers.ts).
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { type KeyDecl, IFNAME, IFHINT, NAME, NAMEHINT, t } from './types.ts';

export const NETWORK_KEYS = {
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
    description: 'Server container address (kept across migrations in same-ip mode; its address on the first server in vip mode)',
  },
  H2_MAC: { group: 'network', type: t.mac, default: '02:42:c0:a8:0c:02', description: 'Server container fixed MAC' },
  H3_IP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.12.3',
    description: "Node h3 address in the controller config; in vip mode the server container's address on the second server",
  },
  H3_MAC: {
    group: 'network',
    type: t.mac,
    default: '02:42:c0:a8:0c:03',
    description: "Node h3 MAC (the server container's MAC on the second server in vip mode)",
  },
  SHIM_IP: {
    group: 'network',
    type: t.ipv4,
    default: '192.168.12.100',
    description: 'Load generator shim address on LOADGEN_HOST',
  },
  SHIM_MAC: { group: 'network', type: t.mac, default: '02:42:c0:a8:0c:64', description: 'Load generator shim MAC' },
  MACSHIM_IF: {
    group: 'network',
    type: t.string(IFNAME, IFHINT),
    default: 'macshim',
    description: 'Name of the macvlan shim interface on LOADGEN_HOST',
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
} as const satisfies Record<string, KeyDecl>;
