// Shared plumbing of the hw/ helpers: each helper is a module of plain functions (tested directly)
// plus a small CLI. This file holds what every CLI needs: argument parsing with --help, printing
// the commands it runs, and turning errors into one clear message and exit code 1.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { $ } from 'zx';

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

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parse argv with node:util parseArgs; `--help` prints `usage` and exits 0; an unknown option or a
 * missing value prints the parser's message plus the usage and exits 2.
 */
function parseCli<O extends Options>(argv: string[], options: O, usage: string) {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n\n${usage.trim()}\n`);
    process.exit(2);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  return parsed;
}

/**
 * A helper's CLI, run only when `metaUrl` is the script node was started with (a test that imports
 * the helper gets its functions, not its CLI): parses argv with `options` as parseCli does, then runs
 * `main`; any thrown error becomes `error: <message>` on stderr and exit code 1.
 */
export function cliMain<O extends Options>(
  metaUrl: string, options: O, usage: string, main: (args: ReturnType<typeof parseCli<O>>) => Promise<void> | void,
): void {
  if (!isMain(metaUrl)) return;
  (async () => main(parseCli(process.argv.slice(2), options, usage)))().then(
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

/** Last `n` lines of a command's output, for error messages. */
export function tail(text: string, n = 15): string {
  const lines = text.trim().split('\n');
  return lines.slice(-n).join('\n');
}
