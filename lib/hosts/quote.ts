// Shell quoting for the whole tree: every command p4cf sends runs under `sh -c` (dash on Debian),
// so values are POSIX single-quoted words with zx's `$` word semantics (one value = one word,
// an array = several words, '' = an empty word). zx's own quote() emits bash-only $'…'.
const RAW = Symbol('raw shell text');
export interface RawShell {
  [RAW]: string;
}

/** Text inserted into an `sh` template without quoting (e.g. a redirection you wrote yourself). */
export function raw(text: string): RawShell {
  return { [RAW]: text };
}

// A command's result used as a value: its stdout without the trailing newline, as zx does.
function isOutput(v: object): v is { stdout: string; exitCode: number } {
  return typeof (v as { stdout?: unknown }).stdout === 'string' && typeof (v as { exitCode?: unknown }).exitCode === 'number';
}

/** Quote one word for a POSIX shell (arrays: several words). */
export function quote(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    if (RAW in value) return (value as RawShell)[RAW];
    if (isOutput(value)) return quote(value.stdout.trimEnd());
  }
  if (Array.isArray(value)) return value.map(quote).join(' ');
  if (value === undefined || value === null) throw new Error(`sh: cannot interpolate ${value}`);
  const s = String(value);
  if (s === '') return "''";
  if (/^[A-Za-z0-9_/.,:@%+=-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Tagged template that shell-quotes every interpolated value; arrays become quoted words. */
export function sh(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0];
  values.forEach((v, i) => {
    out += quote(v) + strings[i + 1];
  });
  return out;
}

/** argv as one shell line (for messages and for `sh -c`). */
export const showCommand = (argv: readonly string[]): string => argv.map(quote).join(' ');
