// Where p4cf keeps its files on each testbed host: REMOTE_PROJECT_DIR with {host} → the host's name.
import type { Config } from '../config/keys.ts';
import { hostDir } from '../config/load.ts';

/** tofino or a server. */
export type RemoteHost = string;

export const remoteDir = (ctx: { config: Pick<Config, 'REMOTE_PROJECT_DIR'> }, host: RemoteHost): string =>
  hostDir(ctx.config.REMOTE_PROJECT_DIR, host);
