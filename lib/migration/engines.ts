// MIGRATION_ENGINE → the engine's step record (steps.ts). podman: the published procedure;
// runc: runc checkpoint and a streamed image folder instead of podman's export/import (runc.ts);
// lazy: runc's, with the memory pages fetched after the restore (post-copy, lazy.ts).
import type { Config } from '../config/keys.ts';
import { podmanEngine } from './podman.ts';
import { lazyEngine } from './lazy.ts';
import { runcEngine } from './runc.ts';
import type { Engine } from './steps.ts';

export const ENGINES: Readonly<Record<Config['MIGRATION_ENGINE'], Engine>> = {
  podman: podmanEngine,
  runc: runcEngine,
  lazy: lazyEngine,
};

export const engineFor = (c: Pick<Config, 'MIGRATION_ENGINE'>): Engine => ENGINES[c.MIGRATION_ENGINE];
