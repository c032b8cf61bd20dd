// Where p4cf-net (cli.ts, bundled as dist/remote/p4cf-net.mjs) is on each host, and its command
// lines. The sync phase uploads it into every host's REMOTE_PROJECT_DIR; on the control machine
// (host `local`) it is this checkout's own bundle.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/keys.ts';
import { hostDir } from '../config/load.ts';
import { bundleRemote, REMOTE_DIST } from '../hosts/bundle.ts';
import { sh } from '../hosts/quote.ts';

export const NETTOOL = 'p4cf-net.mjs';
const PROJECT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The tool's path on `host`: REMOTE_PROJECT_DIR ({host} → name), or this checkout's dist/remote for `local`. */
export function netToolPath(config: Pick<Config, 'REMOTE_PROJECT_DIR'>, host: string): string {
  return host === 'local' ? localNetToolPath() : `${hostDir(config.REMOTE_PROJECT_DIR, host)}/${NETTOOL}`;
}

const localNetToolPath = (): string => join(PROJECT_DIR, REMOTE_DIST, NETTOOL);

/**
 * This checkout's bundle of the tool, rebuilt when its sources changed (bundleRemote's input hash;
 * a stale bundle would lack newer subcommands), once per process.
 */
let localTool: Promise<string> | undefined;
export function ensureLocalNetTool(): Promise<string> {
  localTool ??= bundleRemote(PROJECT_DIR, { require: [NETTOOL] }).then(() => localNetToolPath());
  return localTool;
}

export type NetToolCommand =
  | ['tcp-probe', string, number]
  | ['http-probe', string]
  | ['serve', string, string, number]
  | ['pull', string, number, string]
  | ['pull', string, number, string, number]
  | ['http-post', string]
  | ['free-port', string]
  | ['hold', string, number, number, number]
  | ['ckpt-rewrite', string, string, string, string, string]
  | ['ckpt-rewrite-when', string, string, string, string, string, string, string]
  | ['lazy-strip', string, string];

export const netTool = (path: string, ...cmd: NetToolCommand): string => sh`node ${path} ${cmd}`;
