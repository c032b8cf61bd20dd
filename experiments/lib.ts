// The public entry point for your own experiment scripts (see experiments/examples/ and the
// README's "Write your own experiment"):
//
//   import { onServer, onTofino, onLocal, phases, runPhases, insertAfter, type Phase } from '../lib.ts';
//
// Everything here is used by the standard run itself; nothing is a separate API to keep in step.
import { main } from './run.ts';
import type { Phase } from '../lib/run/phases.ts';
import { phases } from './phases/index.ts';

// host helpers: tagged templates over each host's persistent connection
export { onLocal, onServer, onTofino, on, withHosts } from '../lib/hosts/current.ts';
export { hostsOf, HostCommand, HostOutput, type CommandOptions, type Hosts, type OnHost } from '../lib/hosts/shell.ts';
export { quote, raw, sh } from '../lib/hosts/quote.ts';
export { CommandAbortedError, RemoteError } from '../lib/hosts/errors.ts';
export { remoteDir } from '../lib/hosts/dirs.ts';
export type { Host, HostName, ServerName } from '../lib/hosts/types.ts';

// the run: phases, context, config
export { phases };
export { PHASE_ORDER, type Phase } from '../lib/run/phases.ts';
export type { RunContext } from '../lib/run/context.ts';
export { loadConfig, type LoadedConfig } from '../lib/config/load.ts';
export type { Config } from '../lib/config/keys.ts';
export { countdown } from '../lib/run/wait.ts';

// the testbed's pieces a custom step usually needs
export { serverNode } from '../lib/server/net.ts';
export { homeServer, loadgenHost, migrationHops, type Hop } from '../lib/migration/schedule.ts';
export { directionFor, endpoints, migrate, MIGRATION_STATE, serverLocation, type Direction } from '../lib/migration/migrate.ts';
export { workloadFiles } from './workload/lifecycle.ts';

/**
 * Run `list` exactly like `npx tsx experiments/run.ts` runs the standard phases: the same flags
 * (`--migrations 2`, `--config …`, `--dry-run`, `--phase …`), run folder, manifest, undos at the
 * end. Resolves with the exit code (0 ok, 1 a phase failed, 2 bad arguments, 130 interrupted).
 */
export function runPhases(
  list: Phase[],
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const names = list.map((p) => p.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`runPhases: two phases are named ${JSON.stringify(dup)}; phase names must be unique`);
  return main(argv, env, list);
}

function indexOf(list: Phase[], name: string, fn: string): number {
  const i = list.findIndex((p) => p.name === name);
  if (i < 0) throw new Error(`${fn}: no phase named ${JSON.stringify(name)}; phases: ${list.map((p) => p.name).join(' ')}`);
  return i;
}

/** `list` with `extra` inserted right after the phase named `after`. */
export function insertAfter(list: Phase[], after: string, ...extra: Phase[]): Phase[] {
  const i = indexOf(list, after, 'insertAfter');
  return [...list.slice(0, i + 1), ...extra, ...list.slice(i + 1)];
}

/** `list` with the phase named `name` replaced by `by`. */
export function replacePhase(list: Phase[], name: string, ...by: Phase[]): Phase[] {
  const i = indexOf(list, name, 'replacePhase');
  return [...list.slice(0, i), ...by, ...list.slice(i + 1)];
}
