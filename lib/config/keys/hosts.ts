// Keys of the SSH logins to the switch and the two servers.
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { type KeyDecl, t } from './types.ts';

export const HOSTS_KEYS = {
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
} as const satisfies Record<string, KeyDecl>;
