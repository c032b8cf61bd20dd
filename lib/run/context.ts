// The RunContext handed to every phase: config, run folder, logger, cleanup, state and host handles
// (created lazily, one per name, reused for the whole run).
import type { Config, KeyName } from '../config/keys.ts';
import { localPath, type LoadedConfig } from '../config/load.ts';
import type { Cleanup } from './cleanup.ts';
import type { Logger } from './log.ts';
import { createDryRunHost, createLocalHost, createPlan, createSshHost, type Host, type HostName, type Plan } from '../hosts/remote.ts';
import type { ManifestHandle, RunState } from './rundir.ts';

export interface RunContext {
  config: Config;
  origins: Record<KeyName, string>;
  /** The run folder (in dry-run: where it would be; nothing is written there). */
  dir: string;
  log: Logger;
  cleanup: Cleanup;
  state: RunState;
  host(name: HostName): Host;
  dryRun: boolean;
  projectDir: string;
  /** Active testbed mode and why. */
  mode: LoadedConfig['mode'];
  /** manifest.json of the run (undefined in dry-run). */
  manifest?: ManifestHandle;
  /** In dry-run: every step each host would run, in order. */
  plan?: Plan;
  /** Close every opened host connection. */
  closeHosts(): Promise<void>;
}

export interface ContextOptions {
  loaded: LoadedConfig;
  dir: string;
  log: Logger;
  cleanup: Cleanup;
  state: RunState;
  dryRun?: boolean;
  manifest?: ManifestHandle;
  /** Replace how hosts are made (tests). */
  makeHost?: (name: HostName) => Host;
  /** Where dry-run lines go; default stdout. */
  print?: (line: string) => void;
}

const SSH_KEY_OF = { tofino: 'TOFINO_SSH', lakewood: 'LAKEWOOD_SSH', loveland: 'LOVELAND_SSH' } as const;

export function createContext(o: ContextOptions): RunContext {
  const { loaded, log, cleanup } = o;
  const { config, projectDir } = loaded;
  const hosts = new Map<string, Host>();
  const plan = o.dryRun ? createPlan(o.print) : undefined;
  const make = (name: HostName): Host => {
    if (o.makeHost) return o.makeHost(name);
    if (plan) return createDryRunHost(name, plan, undefined, { cleanup });
    if (name === 'local') return createLocalHost({ log, cleanup });
    const key = SSH_KEY_OF[name as keyof typeof SSH_KEY_OF];
    if (!key) throw new Error(`unknown host ${JSON.stringify(name)}; expected tofino, lakewood, loveland or local`);
    return createSshHost({
      name, target: config[key], log, cleanup,
      privateKeyPath: localPath(projectDir, config.SSH_KEY),
      knownHostsPath: localPath(projectDir, config.SSH_KNOWN_HOSTS),
      connectTimeoutMs: config.SSH_CONNECT_TIMEOUT,
    });
  };
  return {
    config, origins: loaded.origins, dir: o.dir, log, cleanup, state: o.state,
    dryRun: Boolean(o.dryRun), projectDir, mode: loaded.mode, manifest: o.manifest, plan,
    host(name) {
      let h = hosts.get(name);
      if (!h) { h = make(name); hosts.set(name, h); }
      return h;
    },
    async closeHosts() {
      await Promise.all([...hosts.values()].map((h) => h.close().catch(() => {})));
      hosts.clear();
    },
  };
}
