// Where configuration values come from besides the defaults: dotenv files (config.env, the
// hardware overlay) with `file:line` origins, and the config flags every entry script accepts.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as dotenvParse } from 'dotenv';
import { parseCli, UsageError, type Options } from '../run/cli.ts';
import { KEYS, type KeyName } from './keys.ts';
import { ConfigError, KEY_NAMES, show } from './values.ts';

// ---------------------------------------------------------------------------------------------
// files

export interface FileEntry {
  key: string;
  value: string;
  origin: string;
}

/** Parse a dotenv file (no shell evaluation) and attach `file:line` origins. */
export function readEnvFile(path: string, label = basename(path)): FileEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  const lines = text.split(/\r?\n/);
  checkEnvLines(lines, label);
  const parsed = dotenvParse(text);
  return Object.entries(parsed).map(([key, value]) => {
    // dotenv keeps the last assignment, so the origin is the last line that assigns the key.
    const re = new RegExp(`^\\s*(?:export\\s+)?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*[=:]`);
    let line = 0;
    lines.forEach((l, i) => {
      if (re.test(l)) line = i + 1;
    });
    return { key, value, origin: `${label}:${line}` };
  });
}

const ASSIGNMENT = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=\s*(.*)$/;

/**
 * Every line is blank, a comment, KEY=VALUE, or the continuation of a quoted multi-line value:
 * dotenv skips anything else silently, so a typo (a missing `=`, a stray word) would be ignored.
 */
function checkEnvLines(lines: string[], label: string): void {
  let open = ''; // the quote of a multi-line value still open
  lines.forEach((line, i) => {
    if (open) {
      if (line.includes(open)) open = '';
      return;
    }
    const t = line.trim();
    if (!t || t.startsWith('#')) return;
    const m = ASSIGNMENT.exec(line);
    if (!m)
      throw new ConfigError(
        `${label}:${i + 1}: not a KEY=VALUE line: ${show(t.length > 80 ? `${t.slice(0, 80)}…` : t)} (comments start with #)`,
      );
    const v = m[1];
    const q = v[0];
    if ((q === '"' || q === "'" || q === '`') && !v.slice(1).includes(q)) open = q;
  });
  if (open) throw new ConfigError(`${label}: a value opened with ${open} is never closed`);
}

// ---------------------------------------------------------------------------------------------
// CLI flags

export interface ConfigFlags {
  configFile?: string;
  sets: { key: string; value: string; origin: string }[];
}

/** Flags that set one key each (`--steady-state` → STEADY_STATE), as declared in lib/config/keys.ts. */
export const FLAG_KEYS: ReadonlyMap<string, KeyName> = new Map(
  KEY_NAMES.filter((k) => (KEYS[k] as { flag?: string }).flag).map((k) => [(KEYS[k] as { flag?: string }).flag!, k]),
);

/** The config flags as declarations for lib/run/cli.ts; every entry script that loads the config accepts them. */
export const CONFIG_OPTIONS: Options = {
  config: {
    type: 'string',
    arg: 'FILE',
    group: 'Configuration',
    help: 'hardware overlay file (default: config_hw.env when present)',
  },
  set: { type: 'string', arg: 'KEY=VALUE', multiple: true, group: 'Configuration', help: 'set any declared key (repeatable)' },
  ...Object.fromEntries(
    [...FLAG_KEYS].map(([flag, key]) => [
      flag.replace(/^--/, ''),
      {
        type: 'string',
        group: 'Configuration',
        arg: KEYS[key].type.kind === 'duration' ? 'SECS' : 'N',
        help: key,
      } satisfies Options[string],
    ]),
  ),
};

/** The config flags among the options a script parsed, in command-line order (for loadConfig's argv). */
export function configArgv(given: readonly { name: string; text: string }[]): string[] {
  return given.filter((g) => Object.hasOwn(CONFIG_OPTIONS, g.name)).flatMap((g) => [`--${g.name}`, g.text]);
}

/** Parse config flags (and nothing else: another flag is a ConfigError naming it). `--flag value` and `--flag=value`. */
export function parseConfigFlags(argv: string[]): ConfigFlags {
  const out: ConfigFlags = { sets: [] };
  let given: { name: string; text: string }[];
  try {
    ({ given } = parseCli({ command: 'loadConfig', options: CONFIG_OPTIONS }, argv));
  } catch (e) {
    throw e instanceof UsageError ? new ConfigError(e.message) : e;
  }
  for (const { name: n, text: value } of given) {
    const name = `--${n}`;
    if (n === 'config') out.configFile = value;
    else if (n === 'set') {
      const e = value.indexOf('=');
      if (e <= 0) throw new ConfigError(`--set ${show(value)}: expected KEY=VALUE`);
      out.sets.push({ key: value.slice(0, e), value: value.slice(e + 1), origin: '--set' });
    } else if (n !== 'help') {
      const key = FLAG_KEYS.get(name)!;
      if (KEYS[key].type.kind === 'duration') {
        // These flags take seconds, like the original scripts.
        if (!/^\d+(\.\d+)?$/.test(value))
          throw new ConfigError(`${name} ${show(value)}: expected a number of seconds (e.g. ${name} 20)`);
        out.sets.push({ key, value: `${value}s`, origin: name });
      } else out.sets.push({ key, value, origin: name });
    }
  }
  return out;
}
