// Keys of the SSH logins to the switch and the servers (the per-server ones are in servers.ts).
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { MAX_SERVERS, MIN_SERVERS, SERVER_NAME, SERVER_NAME_HINT } from './servers.ts';
import { type KeyDecl, t } from './types.ts';

export const HOSTS_KEYS = {
  TOFINO_SSH: {
    group: 'hosts',
    type: t.ssh,
    default: 'root@10.199.0.2:22',
    description: 'SSH target of the switch (runs switchd and the controller)',
  },
  SERVERS: {
    group: 'hosts',
    type: t.list(SERVER_NAME, SERVER_NAME_HINT, MIN_SERVERS, MAX_SERVERS),
    default: 'lakewood,loveland',
    description:
      'The servers, 2-8 names: each gets the keys <NAME>_SSH, <NAME>_NIC, <NAME>_SW_PORT, <NAME>_DIRECT_IP, <NAME>_DIRECT_IF (lib/config/keys/servers.ts); the container starts on the first',
  },
  SUDO: {
    group: 'hosts',
    type: t.enum(['auto', 'always', 'never'] as const),
    default: 'auto',
    description:
      'How root commands (podman, ip, nft, criu) run on the hosts: auto = through `sudo -n` when the *_SSH user is not root; always; never. Preflight checks `sudo -n true` and names the sudoers line to add',
  },
  LOADGEN_HOST: {
    group: 'hosts',
    type: t.string(/^$|^[a-z][a-z0-9]{0,8}$/, 'empty or one of SERVERS'),
    default: '',
    description:
      'Server that runs the load generator and its shim (it stays there while the container moves); empty = the first of SERVERS',
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
      'Local testbed only: management network (SSH, metrics) between this machine (.1), tofino (.2) and the servers (.3, .4, … in SERVERS order)',
  },
  REMOTE_PROJECT_DIR: {
    group: 'hosts',
    type: t.path,
    default: '/var/tmp/p4cf/{host}',
    description: 'Where code is synced on each host; {host} is replaced by the host name',
  },
} as const satisfies Record<string, KeyDecl>;
