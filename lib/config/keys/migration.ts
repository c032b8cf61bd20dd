// Keys of the migration (checkpoint, transfer) and of the local link emulation.
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { type KeyDecl, RATE, RATEHINT, TIME, TIMEHINT, t } from './types.ts';

export const MIGRATION_KEYS = {
  CHECKPOINT_DIR: {
    group: 'migration',
    type: t.path,
    default: '/var/tmp/p4cf/{host}/checkpoints',
    description: 'Checkpoint folder on each server; {host} is replaced by the host name',
  },
  MIGRATION_ENGINE: {
    group: 'migration',
    type: t.enum(['podman', 'runc', 'lazy'] as const),
    default: 'podman',
    description:
      'podman: checkpoint --export / restore --import (the published procedure); runc: freeze, runc checkpoint to a folder streamed over the direct link, podman restore of the same container record (needs podman storage both servers share: local testbed); lazy: as runc, but only the pages the restore needs at once move before it, the rest follow after the resume (post-copy, CRIU lazy pages; local testbed)',
  },
  LAZY_PAGES_TIMEOUT: {
    group: 'migration',
    type: t.duration,
    default: '120s',
    description:
      'MIGRATION_ENGINE=lazy: longest wait after the switch update for the last memory page to reach the target; the page server and the lazy-pages daemon are ended at this bound and the migration fails',
  },
  TRANSFER_METHOD: {
    group: 'migration',
    type: t.enum(['auto', 'socat', 'node'] as const),
    default: 'auto',
    description: 'Checkpoint transfer: auto measures socat against a Node stream once and keeps the faster',
  },
  TRANSFER_PORT_PICK: {
    group: 'migration',
    type: t.enum(['auto', 'fixed', 'free'] as const),
    default: 'auto',
    description:
      'fixed: the checkpoint transfer listens on TRANSFER_PORT; free: each migration asks the source for a free port on its direct-link address (as the published scripts did); auto = free on hardware, fixed on the local testbed',
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
} as const satisfies Record<string, KeyDecl>;

export const LINKS_KEYS = {
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
