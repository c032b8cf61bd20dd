// One command-line parser for every entry script, on node:util parseArgs: no dependency (the remote
// bundles — switch model, controller, stream server, load generator — stay small and node >= 20 has
// it). A script declares its options once; the declarations give the typed values, the --help text,
// and the refusal (UsageError, exit 2) of any flag or argument that is not declared.
import { parseArgs } from 'node:util';

/** A bad command line; the message names the flag or argument and what is expected. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** May be given more than once; the values in command-line order. */
  multiple?: boolean;
  /** Placeholder of the value in --help (FILE, N, HOST:PORT). */
  arg?: string;
  /** One line (or several, joined by \n) for --help. */
  help?: string;
  /** Heading this option is listed under in --help (options without one come first). */
  group?: string;
  /** Must be given (checked unless --help is). */
  required?: boolean;
  /** Value when the option is not given (before `parse`). */
  default?: string;
  /** Text → typed value; throws an Error saying what is expected (the flag and text are prefixed). */
  parse?: (text: string) => unknown;
}

export type Options = Record<string, OptionSpec>;

export interface ArgsSpec {
  /** Placeholder in the usage line (RUN_DIR, COMMAND). */
  name: string;
  /** What one argument is, for messages ("run folder"); default the name. */
  what?: string;
  min?: number;
  /** Default 1 when `min` is 1 or less, else `min`; Infinity for any number. */
  max?: number;
  choices?: readonly string[];
}

export interface CliSpec<O extends Options = Options> {
  /** How the script is started, for the usage line: `npx tsx experiments/testbed.ts`. */
  command: string;
  summary?: string;
  options: O;
  /** Positional arguments before `--`; refused when absent. */
  args?: ArgsSpec;
  /** Arguments after `--`, passed on untouched; refused when absent. */
  rest?: { name: string };
  /** Text after the option list (exit codes, notes). */
  epilog?: string;
  /** A hand-written --help text used instead of the generated one. */
  usage?: string;
}

type Parsed<S extends OptionSpec> = S extends { parse: (t: string) => infer T } ? T : string;
type Value<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S extends { multiple: true }
    ? Parsed<S>[]
    : S extends { default: string } | { required: true }
      ? Parsed<S>
      : Parsed<S> | undefined;

export type Values<O extends Options> = { -readonly [K in keyof O]: Value<O[K]> } & { help: boolean };

export interface ParsedCli<O extends Options> {
  values: Values<O>;
  /** Positional arguments (before `--`). */
  args: string[];
  /** Arguments after `--`. */
  rest: string[];
  /** Every option given, in command-line order, with its text (booleans: 'true'). */
  given: { name: string; text: string }[];
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', help: 'this text' };

const flagName = (name: string) => `--${name}`;

function withHelp<O extends Options>(options: O): Options {
  return { ...options, help: HELP };
}

function validList(options: Options): string {
  return `valid options: ${Object.keys(options).map(flagName).join(' ')}`;
}

/** The first line of --help: `usage: CMD [options] ARGS [-- REST]`. */
export function usageLine(spec: CliSpec): string {
  const parts = [`usage: ${spec.command}`];
  if (Object.keys(spec.options).length) parts.push('[options]');
  const a = spec.args;
  if (a) {
    const shown = a.choices ? a.choices.join('|') : a.name;
    const min = a.min ?? 0;
    const max = a.max ?? Math.max(1, min);
    parts.push(min === 0 ? `[${shown}${max > 1 ? '...' : ''}]` : `${shown}${max > 1 ? '...' : ''}`);
  }
  if (spec.rest) parts.push(`[-- ${spec.rest.name}]`);
  return parts.join(' ');
}

/** The --help text, generated from the declarations (or the spec's hand-written `usage`). */
export function helpText(spec: CliSpec): string {
  if (spec.usage) return spec.usage.trim();
  const options = withHelp(spec.options);
  const left = (name: string, o: OptionSpec) =>
    `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}${o.required ? ' (required)' : ''}`;
  const width = Math.min(26, Math.max(...Object.entries(options).map(([n, o]) => left(n, o).length)) + 2);
  const groups = new Map<string, string[]>();
  for (const [name, o] of Object.entries(options)) {
    const l = left(name, o);
    const text = (o.help ?? '').split('\n');
    const lines = [`  ${l.length >= width ? `${l}\n  ${' '.repeat(width)}` : l.padEnd(width)}${text[0]}`];
    for (const t of text.slice(1)) lines.push(`  ${' '.repeat(width)}${t}`);
    const g = o.group ?? '';
    groups.set(g, [...(groups.get(g) ?? []), ...lines.map((x) => x.trimEnd())]);
  }
  const out = [usageLine(spec)];
  if (spec.summary) out.push('', spec.summary.trim());
  for (const [g, lines] of groups) out.push('', `${g || 'Options'}:`, ...lines);
  if (spec.epilog) out.push('', spec.epilog.trim());
  return out.join('\n');
}

/** Parse argv against the declarations; throws UsageError for anything undeclared or malformed. */
export function parseCli<const O extends Options>(spec: CliSpec<O>, argv: string[]): ParsedCli<O> {
  const options = withHelp(spec.options);
  const config = Object.fromEntries(
    Object.entries(options).map(([n, o]) => [n, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  );
  // Not strict: the tokens are checked here, so each message can name the flag and list the valid ones.
  const { tokens } = parseArgs({ args: argv, options: config, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  const given: { name: string; text: string }[] = [];
  const args: string[] = [];
  const rest: string[] = [];
  let terminated = false;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') {
      terminated = true;
      continue;
    }
    if (t.kind === 'positional') {
      (terminated ? rest : args).push(t.value);
      continue;
    }
    const o = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (!o) throw new UsageError(`unknown option ${t.rawName}; ${validList(options)}`);
    const flag = flagName(t.name);
    if (o.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${flag} takes no value`);
      values[t.name] = true;
      given.push({ name: t.name, text: 'true' });
      continue;
    }
    const text = t.value;
    // `--from --to x`: the next flag is not a value (a value starting with - can be given as --from=-x).
    if (text === undefined || (!t.inlineValue && text.startsWith('-') && text !== '-'))
      throw new UsageError(`${flag} needs a value`);
    if (!o.multiple && given.some((g) => g.name === t.name)) throw new UsageError(`${flag} given twice; give it once`);
    const v = convert(flag, o, text);
    if (o.multiple) ((values[t.name] ??= []) as unknown[]).push(v);
    else values[t.name] = v;
    given.push({ name: t.name, text });
  }
  for (const [name, o] of Object.entries(options)) {
    if (name in values) continue;
    if (o.type === 'boolean') values[name] = false;
    else if (o.multiple) values[name] = [];
    else if (o.default !== undefined) values[name] = convert(flagName(name), o, o.default);
  }
  if (!values.help) {
    for (const [name, o] of Object.entries(options)) {
      if (o.required && !(name in values)) throw new UsageError(`${flagName(name)} is required`);
    }
    checkArgs(spec, args, rest);
  }
  return { values: values as Values<O>, args, rest, given };
}

function convert(flag: string, o: OptionSpec, text: string): unknown {
  if (!o.parse) return text;
  try {
    return o.parse(text);
  } catch (e) {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: ${(e as Error).message}`);
  }
}

function checkArgs(spec: CliSpec, args: string[], rest: string[]): void {
  const a = spec.args;
  if (!a && args.length) {
    const hint = spec.rest ? ` (${spec.rest.name} go after --)` : '';
    throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}; ${spec.command} takes options only${hint}`);
  }
  if (!spec.rest && rest.length) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])} after --`);
  if (!a) return;
  const what = a.what ?? a.name;
  const min = a.min ?? 0;
  const max = a.max ?? Math.max(1, min);
  if (args.length === 0 && min > 0) throw new UsageError(`no ${what} given`);
  if (args.length < min || args.length > max) {
    const want = min === max ? `exactly ${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new UsageError(
      `expected ${want} ${what} argument(s), got ${args.length}: ${args.map((x) => JSON.stringify(x)).join(' ')}`,
    );
  }
  for (const x of args) {
    if (a.choices && !a.choices.includes(x))
      throw new UsageError(`unknown ${what} ${JSON.stringify(x)}: expected ${a.choices.join(', ')}`);
  }
}

/**
 * The command line of a script: `--help` prints the help text and exits 0; a UsageError prints
 * `error: …` and the usage line on stderr and exits 2. `check` may throw UsageError for rules
 * between options (conflicts, required ones).
 */
export function cliArgs<const O extends Options>(
  spec: CliSpec<O>,
  argv: string[] = process.argv.slice(2),
  check?: (p: ParsedCli<O>) => void,
): ParsedCli<O> {
  try {
    const p = parseCli(spec, argv);
    if (p.values.help) {
      process.stdout.write(`${helpText(spec)}\n`);
      process.exit(0);
    }
    check?.(p);
    return p;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    cliExit(e.message, spec);
  }
}

/** A usage error found after parsing: `error: …` and the usage line on stderr, exit 2. */
export function cliExit(message: string, spec: CliSpec): never {
  process.stderr.write(`error: ${message}\n${usageLine(spec)}  (see --help)\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// value parsers shared by the declarations

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * "500ms" | "15s" | "2m" | "1h" | "1.5s" → milliseconds (rounded). A bare number is accepted only
 * when `bare` says its unit (the config flags take seconds, the workload programs milliseconds).
 */
export function parseDuration(text: string, bare?: 'ms' | 's'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unit = m?.[2] ?? bare;
  if (!m || !unit) {
    const extra = bare ? ` or a number of ${bare === 's' ? 'seconds' : 'milliseconds'}` : '';
    throw new Error(`expected a duration such as 500ms, 15s, 2m or 1h${extra}`);
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[unit]);
}

/** An integer in min..max. */
export function intIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new Error(`expected an integer in ${min}..${max}`);
    }
    return n;
  };
}

/** A duration in milliseconds (bare numbers are milliseconds). */
export const durationMs = (text: string): number => parseDuration(text, 'ms');
