// Shared plumbing of the hw/ helpers: each helper is a module of plain functions (tested directly)
// plus a small CLI. This file holds what every CLI needs: argument parsing (lib/run/cli.ts) with
// --help, printing the commands it runs, and turning errors into one clear message and exit code 1.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { cliArgs, type Options, type Values } from '../lib/run/cli.ts';

/** Run a command, printing `$ cmd` and streaming its output while still capturing it. */
export const $v = $({ verbose: true });
/** Run a command quietly (output captured only) — for probes whose output we parse. */
export const $q = $({ verbose: false, quiet: true });

/** True when the module at `metaUrl` is the script node was started with (not imported by a test). */
function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(fileURLToPath(metaUrl)) === realpathSync(entry);
  } catch {
    return false;
  }
}

/**
 * A helper's CLI, run only when `metaUrl` is the script node was started with (a test that imports
 * the helper gets its functions, not its CLI): parses argv with lib/run/cli.ts (`--help` prints
 * `usage` and exits 0; an unknown option, a stray argument or a missing value exits 2 naming it;
 * `positionals` are the arguments after `--`), then runs `main`; any thrown error becomes
 * `error: <message>` on stderr and exit code 1.
 */
export function cliMain<const O extends Options>(
  metaUrl: string,
  options: O,
  usage: string,
  main: (args: { values: Values<O>; positionals: string[] }) => Promise<void> | void,
): void {
  if (!isMain(metaUrl)) return;
  const command = `npx tsx ${relative(process.cwd(), fileURLToPath(metaUrl))}`;
  const { values, rest } = cliArgs({ command, options, usage, rest: { name: 'ARGS' } });
  (async () => main({ values, positionals: rest }))().then(
    () => process.exit(process.exitCode ?? 0),
    (e: unknown) => {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`error: ${msg}\n`);
      process.exit(1);
    },
  );
}

/** Require a CLI value; the message names the option and what it is for. */
export function need(value: string | undefined, option: string, what: string): string {
  if (value === undefined || value === '') throw new Error(`missing ${option}: ${what} (see --help)`);
  return value;
}

export function requireDir(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} not found: ${path}`);
  if (!statSync(path).isDirectory()) throw new Error(`${what} is not a directory: ${path}`);
}

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${what} not found: ${path}`);
  if (!statSync(path).isFile()) throw new Error(`${what} is not a regular file: ${path}`);
}
