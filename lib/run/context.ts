// The RunContext handed to every phase: config, run folder, logger, cleanup, state, host handles
// (created lazily, one per name, reused for the whole run), the run's abort signal and the
// `onTofino` / `onServer` / `onLocal` helpers over those hosts.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Config, ConfigKey } from '../config/keys.ts';
import { serverKey } from '../config/keys/servers.ts';
import { localPath, type LoadedConfig } from '../config/load.ts';
import type { Cleanup } from './cleanup.ts';
import type { Logger } from './log.ts';
import { createDryRunHost, createPlan, type Plan } from '../hosts/dryrun.ts';
import { createLocalHost } from '../hosts/local.ts';
import { withHosts } from '../hosts/current.ts';
import { hostsOf, type Hosts } from '../hosts/shell.ts';
import { createSshHost } from '../hosts/ssh.ts';
import { usesSudo, type Host, type HostName } from '../hosts/types.ts';
import type { ManifestHandle, RunState } from './rundir.ts';

export interface RunContext extends Hosts {
  config: Config;
  origins: Record<ConfigKey, string>;
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
  /** The run's abort signal: host commands refuse to start once it fired and end the running ones. */
  signal: AbortSignal;
  /** Fire `signal` (e.g. on SIGINT). */
  abort(reason?: unknown): void;
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

// Undos run after an abort too: the commands they start must not see the run's signal.
const inUndo = new AsyncLocalStorage<boolean>();

/**
 * Run `fn` where the run's signal never fires (as the undos do): for work that must finish once
 * begun, e.g. a migration's steps between taking the service down and bringing it back. The
 * caller checks the signal it captured before, at the points where stopping is safe.
 */
export function uninterruptible<T>(fn: () => T): T {
  return inUndo.run(true, fn);
}

/** The key holding a host's SSH target (TOFINO_SSH, LAKEWOOD_SSH, …), or undefined for a name that is no host of this config. */
export function sshKeyOf(config: Pick<Config, 'SERVERS'>, name: string): `${string}_SSH` | undefined {
  if (name === 'tofino') return 'TOFINO_SSH';
  return config.SERVERS.includes(name) ? (serverKey(name, 'SSH') as `${string}_SSH`) : undefined;
}

/** `h` whose exec runs under the run's signal unless the caller passes its own. */
function withSignal(h: Host, signal: () => AbortSignal): Host {
  const exec: Host['exec'] = (cmd, opts = {}) => h.exec(cmd, { ...opts, signal: opts.signal ?? signal() });
  // a prototype link, not a copy: the host's own getters (sudo) and methods stay its own
  return Object.assign(Object.create(h) as Host, { exec });
}

export function createContext(o: ContextOptions): RunContext {
  const { loaded, log, cleanup } = o;
  const { config, projectDir } = loaded;
  const hosts = new Map<string, Host>();
  const plan = o.dryRun ? createPlan(o.print) : undefined;
  const aborter = new AbortController();
  const NEVER = new AbortController().signal;
  const make = (name: HostName): Host => {
    if (o.makeHost) return o.makeHost(name);
    const key = name === 'local' ? undefined : sshKeyOf(config, name);
    if (name !== 'local' && !key)
      throw new Error(
        `unknown host ${JSON.stringify(name)}; expected tofino, local or one of SERVERS (${config.SERVERS.join(', ')})`,
      );
    if (plan) return createDryRunHost(name, plan, { cleanup, sudo: key ? usesSudo(config.SUDO, config[key].user) : false });
    if (!key) return createLocalHost({ log, cleanup });
    return createSshHost({
      name,
      target: config[key],
      log,
      cleanup,
      sudo: config.SUDO,
      privateKeyPath: localPath(projectDir, config.SSH_KEY),
      knownHostsPath: localPath(projectDir, config.SSH_KNOWN_HOSTS),
      connectTimeoutMs: config.SSH_CONNECT_TIMEOUT,
    });
  };
  const runCleanup: Cleanup = {
    ...cleanup,
    // ...and with this run's hosts for the free onServer/onTofino/onLocal (lib/hosts/current.ts)
    add: (label, fn, opts) => cleanup.add(label, () => inUndo.run(true, () => withHosts(full, fn)), opts),
  };
  const ctx: Omit<RunContext, keyof Hosts> = {
    config,
    origins: loaded.origins,
    dir: o.dir,
    log,
    cleanup: runCleanup,
    state: o.state,
    dryRun: Boolean(o.dryRun),
    projectDir,
    mode: loaded.mode,
    manifest: o.manifest,
    plan,
    get signal() {
      return inUndo.getStore() ? NEVER : aborter.signal;
    },
    abort: (reason) => aborter.abort(reason),
    host(name) {
      let h = hosts.get(name);
      if (!h) {
        h = withSignal(make(name), () => full.signal);
        hosts.set(name, h);
      }
      return h;
    },
    async closeHosts() {
      await Promise.all([...hosts.values()].map((h) => h.close().catch(() => {})));
      hosts.clear();
    },
  };
  const full: RunContext = Object.assign(ctx, hostsOf(ctx));
  return full;
}
