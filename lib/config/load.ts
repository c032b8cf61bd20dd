// Configuration: parse and layer every declared key, remember where each value came from.
// Layers, later wins: config.env → hardware overlay (config_hw.env or --config FILE) → environment
// (declared names only) → CLI flags. Everything is validated here, before any host is touched.
import { existsSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { parse as dotenvParse } from 'dotenv';
import { parseCli, parseDuration, UsageError, type Options } from '../run/cli.ts';
import { KEYS, type Config, type KeyName, type KeyType, type SshTarget } from './keys.ts';
import { extraBackends } from '../server/backend.ts';

export type { Config, KeyName, SshTarget } from './keys.ts';

export const KEY_NAMES = Object.keys(KEYS) as KeyName[];

/** A bad key or value; `message` names the key, the value, what is expected and where it came from. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface Mode { testbed: 'local' | 'hw'; why: string }

export interface LoadedConfig {
  config: Config;
  /** `default`, `config.env:12`, `config_hw.env:7`, `env`, `--steady-state`, `--set` … */
  origins: Record<KeyName, string>;
  /** The raw string each value was parsed from (before unit conversion). */
  raw: Record<KeyName, string>;
  mode: Mode;
  projectDir: string;
  /** Legal but risky settings (printed by the runner). */
  warnings: string[];
}

export interface LoadOptions {
  /** Config flags only (--config, --set, --steady-state, --post-migration, --migrations; see CONFIG_OPTIONS). */
  argv?: string[];
  /** Environment to read declared keys from; default process.env. Pass {} to ignore the environment. */
  env?: Record<string, string | undefined>;
  /** Project dir holding config.env and config_hw.env; default process.cwd(). */
  cwd?: string;
  /** Hardware overlay file (same as --config). */
  configFile?: string;
}

// ---------------------------------------------------------------------------------------------
// value parsers

const IPV4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => IPV4_OCTET.test(p));
}

/** "user@host[:port]" → {user, host, port}. */
export function parseSshTarget(s: string): SshTarget {
  const m = /^([a-z_][a-z0-9_.-]*)@([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d+))?$/.exec(s);
  if (!m) throw new Error('expected an SSH target user@host[:port]');
  const port = m[3] === undefined ? 22 : Number(m[3]);
  if (port < 1 || port > 65535) throw new Error('expected an SSH port between 1 and 65535');
  return { user: m[1], host: m[2].replace(/^\[|\]$/g, ''), port };
}

function expected(type: KeyType): string {
  switch (type.kind) {
    case 'ipv4': return 'an IPv4 address such as 192.168.12.2';
    case 'cidr': return 'an IPv4 prefix such as 192.168.12.0/24';
    case 'mac': return 'a MAC address such as 02:42:c0:a8:0c:02';
    case 'port': return 'a TCP port 1-65535';
    case 'int': return `an integer${type.min !== undefined ? ` >= ${type.min}` : ''}${type.max !== undefined ? ` and <= ${type.max}` : ''}`;
    case 'duration': return 'a duration such as 500ms, 15s, 2m';
    case 'path': return 'a path (no newlines or NUL)';
    case 'ssh': return 'an SSH target user@host[:port]';
    case 'enum': return `one of ${type.values.join(', ')}`;
    case 'bool': return 'true or false';
    case 'string': return type.hint ?? (type.pattern ? `a string matching ${type.pattern}` : 'a string');
    case 'hostport': return 'host:port such as 127.0.0.1:50052';
    case 'url': return `an http(s) URL${type.optional ? ' or empty' : ''}`;
  }
}

/** Parse one raw value by type; throws a plain Error with the expectation (context is added by the caller). */
export function parseByType(type: KeyType, raw: string): unknown {
  const v = raw.trim();
  const bad = (): never => { throw new Error(`expected ${expected(type)}`); };
  switch (type.kind) {
    case 'ipv4': return isIpv4(v) ? v : bad();
    case 'cidr': {
      const [ip, len, ...rest] = v.split('/');
      if (rest.length || !isIpv4(ip) || !/^\d{1,2}$/.test(len ?? '') || Number(len) > 32) bad();
      return v;
    }
    case 'mac': return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(v) ? v.toLowerCase() : bad();
    case 'port': {
      if (!/^\d{1,5}$/.test(v)) bad();
      const n = Number(v);
      return n >= 1 && n <= 65535 ? n : bad();
    }
    case 'int': {
      if (!/^-?\d+$/.test(v)) bad();
      const n = Number(v);
      if (!Number.isSafeInteger(n)) bad();
      if (type.min !== undefined && n < type.min) bad();
      if (type.max !== undefined && n > type.max) bad();
      return n;
    }
    case 'duration':
      try { return parseDuration(v); } catch { return bad(); }
    case 'path': return /[\n\0]/.test(raw) ? bad() : v;
    case 'ssh':
      try { return parseSshTarget(v); } catch (e) { throw new Error(`expected an SSH target user@host[:port] (${(e as Error).message.replace(/^expected /, '')})`); }
    case 'enum': return type.values.includes(v) ? v : bad();
    case 'bool': {
      const l = v.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(l)) return true;
      if (['false', '0', 'no', 'off'].includes(l)) return false;
      return bad();
    }
    case 'string': return !type.pattern || type.pattern.test(v) ? v : bad();
    case 'hostport': {
      const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(v);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) bad();
      return v;
    }
    case 'url': {
      if (v === '' && type.optional) return '';
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:' ? v : bad();
      } catch { return bad(); }
    }
  }
}

function show(raw: string): string {
  return JSON.stringify(raw);
}

/** Parse one key's raw value, with an error naming key, value, expected type and origin. */
export function parseKey(key: KeyName, raw: string, origin: string): unknown {
  try {
    return parseByType(KEYS[key].type, raw);
  } catch (e) {
    const value = (KEYS[key] as { secret?: boolean }).secret ? '<redacted>' : show(raw);
    throw new ConfigError(`${key}=${value} (from ${origin}): ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// "did you mean"

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)] as number[]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** The declared key closest to `name`, when close enough to be a likely typo. */
export function suggestKey(name: string): KeyName | undefined {
  const up = name.toUpperCase();
  let best: KeyName | undefined;
  let bestD = Infinity;
  for (const k of KEY_NAMES) {
    const dist = editDistance(up, k);
    if (dist < bestD) { bestD = dist; best = k; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function unknownKey(name: string, origin: string): ConfigError {
  const s = suggestKey(name);
  return new ConfigError(`unknown config key ${name} (from ${origin})${s ? `; did you mean ${s}?` : ''} (declared keys are in lib/config/keys.ts)`);
}

// ---------------------------------------------------------------------------------------------
// files

interface FileEntry { key: string; value: string; origin: string }

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
    lines.forEach((l, i) => { if (re.test(l)) line = i + 1; });
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
    if (!m) throw new ConfigError(`${label}:${i + 1}: not a KEY=VALUE line: ${show(t.length > 80 ? `${t.slice(0, 80)}…` : t)} (comments start with #)`);
    const v = m[1];
    const q = v[0];
    if ((q === '"' || q === "'" || q === '`') && !v.slice(1).includes(q)) open = q;
  });
  if (open) throw new ConfigError(`${label}: a value opened with ${open} is never closed`);
}

// ---------------------------------------------------------------------------------------------
// CLI flags

export interface ConfigFlags { configFile?: string; sets: { key: string; value: string; origin: string }[] }

/** Flags that set one key each (`--steady-state` → STEADY_STATE), as declared in lib/config/keys.ts. */
export const FLAG_KEYS: ReadonlyMap<string, KeyName> = new Map(
  KEY_NAMES.filter((k) => (KEYS[k] as { flag?: string }).flag).map((k) => [(KEYS[k] as { flag?: string }).flag!, k]),
);

/** The config flags as declarations for lib/run/cli.ts; every entry script that loads the config accepts them. */
export const CONFIG_OPTIONS: Options = {
  config: { type: 'string', arg: 'FILE', group: 'Configuration', help: 'hardware overlay file (default: config_hw.env when present)' },
  set: { type: 'string', arg: 'KEY=VALUE', multiple: true, group: 'Configuration', help: 'set any declared key (repeatable)' },
  ...Object.fromEntries([...FLAG_KEYS].map(([flag, key]) => [flag.replace(/^--/, ''), {
    type: 'string', group: 'Configuration', arg: KEYS[key].type.kind === 'duration' ? 'SECS' : 'N', help: key,
  } satisfies Options[string]])),
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
        if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(`${name} ${show(value)}: expected a number of seconds (e.g. ${name} 20)`);
        out.sets.push({ key, value: `${value}s`, origin: name });
      } else out.sets.push({ key, value, origin: name });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// layering

const SSH_KEYS = KEY_NAMES.filter((k) => KEYS[k].type.kind === 'ssh');

/** Load, layer and validate the configuration. Throws ConfigError before anything touches a host. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const projectDir = resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const flags = parseConfigFlags(opts.argv ?? []);

  const raw = {} as Record<KeyName, string>;
  const origins = {} as Record<KeyName, string>;
  for (const k of KEY_NAMES) { raw[k] = KEYS[k].default; origins[k] = 'default'; }

  const apply = (entries: FileEntry[]) => {
    for (const e of entries) {
      if (!(e.key in KEYS)) throw unknownKey(e.key, e.origin);
      raw[e.key as KeyName] = e.value;
      origins[e.key as KeyName] = e.origin;
    }
  };

  const base = resolve(projectDir, 'config.env');
  if (existsSync(base)) apply(readEnvFile(base));

  const overlayArg = flags.configFile ?? opts.configFile;
  const defaultOverlay = resolve(projectDir, 'config_hw.env');
  const overlay = overlayArg ? resolve(projectDir, overlayArg) : existsSync(defaultOverlay) ? defaultOverlay : undefined;
  let modeWhy = overlayArg ? '' : 'no config_hw.env and no --config';
  if (overlay) {
    if (overlayArg && !existsSync(overlay)) throw new ConfigError(`--config ${overlayArg}: file ${overlay} does not exist`);
    const label = basename(overlay);
    const entries = readEnvFile(overlay, label);
    apply(entries);
    const via = overlayArg ? `--config ${overlayArg}` : `${label} present`;
    const explicit = entries.find((e) => e.key === 'TESTBED');
    const sshEntry = entries.find((e) => SSH_KEYS.includes(e.key as KeyName));
    if (explicit) modeWhy = `${via}, TESTBED set at ${explicit.origin}`;
    else if (sshEntry) {
      // A hardware overlay that names SSH targets is a hardware testbed unless it says otherwise.
      raw.TESTBED = 'hw';
      origins.TESTBED = `${sshEntry.origin} (implied by ${sshEntry.key})`;
      modeWhy = `${via}, sets ${sshEntry.key} (${sshEntry.origin})`;
    } else modeWhy = `${via} but sets no *_SSH key and no TESTBED`;
  }

  for (const k of KEY_NAMES) {
    const v = env[k];
    if (v !== undefined) { raw[k] = v; origins[k] = 'env'; }
  }

  for (const s of flags.sets) {
    if (!(s.key in KEYS)) throw unknownKey(s.key, s.origin);
    raw[s.key as KeyName] = s.value;
    origins[s.key as KeyName] = s.origin;
  }

  const config = {} as Record<KeyName, unknown>;
  const errors: string[] = [];
  for (const k of KEY_NAMES) {
    try { config[k] = parseKey(k, raw[k], origins[k]); } catch (e) { errors.push((e as Error).message); }
  }
  if (errors.length) throw new ConfigError(errors.length === 1 ? errors[0] : `invalid configuration:\n  ${errors.join('\n  ')}`);

  const testbed = config.TESTBED as 'local' | 'hw';
  const crossErrors = crossKeyProblems(config as Config, raw, origins, testbed);
  if (crossErrors.length) throw new ConfigError(crossErrors.length === 1 ? crossErrors[0] : `invalid configuration:\n  ${crossErrors.join('\n  ')}`);
  if (origins.TESTBED === 'env' || origins.TESTBED.startsWith('--')) modeWhy = `TESTBED=${testbed} from ${origins.TESTBED}`;
  else if (!modeWhy) modeWhy = `TESTBED=${testbed} from ${origins.TESTBED}`;
  return { config: config as Config, origins, raw, mode: { testbed, why: modeWhy }, projectDir, warnings: configWarnings(config as Config) };
}

/** Keys that shape the local testbed's links (lib/modes/local/links.ts). */
const LINK_KEYS = ['LINK_RATE', 'LINK_DELAY', 'LINK_JITTER', 'LINK_LOSS', 'DIRECT_LINK_RATE', 'DIRECT_LINK_DELAY'] as const satisfies readonly KeyName[];

/** The addresses the controller programs as nodes or VIP: each must be distinct. */
const NODE_ADDRESS_KEYS = ['VIP', 'H2_IP', 'H3_IP', 'SHIM_IP'] as const satisfies readonly KeyName[];

/** A value set only by the defaults or config.env: the local testbed's, never a lab's. */
const localDefault = (origin: string) => origin === 'default' || origin.startsWith('config.env:');

function crossKeyProblems(c: Config, raw: Record<KeyName, string>, origins: Record<KeyName, string>, testbed: 'local' | 'hw'): string[] {
  const out: string[] = [];
  const seen = new Map<string, KeyName>();
  for (const k of NODE_ADDRESS_KEYS) {
    const ip = c[k] as string;
    const first = seen.get(ip);
    if (first) out.push(`${k}=${ip} (from ${origins[k]}) is also ${first} (from ${origins[first]}): the switch would program two nodes with one address; give each its own`);
    else seen.set(ip, k);
  }
  out.push(...vipProblems(c, origins));
  const shaped = LINK_KEYS.filter((k) => c[k] !== '');
  if (testbed === 'hw' && shaped.length) {
    out.push(`${shaped.map((k) => `${k}=${c[k]} (from ${origins[k]})`).join(', ')}: link emulation shapes the local testbed's veths; a hardware testbed's links are real — unset ${shaped.length > 1 ? 'them' : 'it'} (or emulate with TESTBED=local)`);
  }
  if (c.LINK_JITTER && !c.LINK_DELAY) out.push(`LINK_JITTER=${c.LINK_JITTER} (from ${origins.LINK_JITTER}) needs LINK_DELAY: jitter varies a delay (e.g. LINK_DELAY=5ms LINK_JITTER=1ms)`);
  if (testbed === 'hw') {
    // Falling back to the local testbed's management address would send the run to the wrong machine.
    for (const k of SSH_KEYS) {
      if (localDefault(origins[k])) {
        out.push(`${k} is not set for the hardware testbed (it would be the local testbed's ${raw[k]} from ${origins[k]}): set it in the hardware overlay (config_hw.env or --config FILE), the environment or with --set`);
      }
    }
  }
  return out;
}

/** VIP mode: the VIP is what clients see, never any backend's own address, and inside the container subnet. */
function vipProblems(c: Config, origins: Record<KeyName, string>): string[] {
  if (c.MIGRATION_MODE !== 'vip') {
    return c.BACKENDS > 1 ? [`BACKENDS=${c.BACKENDS} (from ${origins.BACKENDS}) needs MIGRATION_MODE=vip (from ${origins.MIGRATION_MODE} it is ${c.MIGRATION_MODE}): only clients of the VIP are spread over backends`] : [];
  }
  const out: string[] = [];
  const why = `(MIGRATION_MODE=vip from ${origins.MIGRATION_MODE})`;
  for (const k of ['H2_IP', 'H3_IP'] as const) {
    if (c[k] === c.VIP) out.push(`VIP=${c.VIP} (from ${origins.VIP}) is also the backend address ${k} (from ${origins[k]}) ${why}: the VIP must be an address no backend holds`);
  }
  if (c.H2_MAC.toLowerCase() === c.H3_MAC.toLowerCase()) {
    out.push(`H3_MAC=${c.H3_MAC} (from ${origins.H3_MAC}) equals H2_MAC (from ${origins.H2_MAC}) ${why}: the container takes H3_MAC on loveland, which must differ from its lakewood MAC`);
  }
  const taken = new Map<string, string>([[c.VIP, 'VIP'], [c.H2_IP, 'H2_IP'], [c.H3_IP, 'H3_IP'], [c.SHIM_IP, 'SHIM_IP'], [c.HW_GATEWAY, 'HW_GATEWAY']]);
  for (const b of extraBackends(c)) {
    const clash = taken.get(b.ip);
    if (clash || !inSubnet(b.ip, c.HW_SUBNET)) {
      out.push(`BACKENDS=${c.BACKENDS} (from ${origins.BACKENDS}): backend ${b.k} takes ${b.ip} (HW_SUBNET host ${20 + b.k}), which ${clash ? `is ${clash}=${c[clash as KeyName]} (from ${origins[clash as KeyName]})` : `is outside HW_SUBNET=${c.HW_SUBNET}`}; move that key or use fewer backends`);
    }
  }
  if (!inSubnet(c.VIP, c.HW_SUBNET)) {
    out.push(`VIP=${c.VIP} (from ${origins.VIP}) is outside HW_SUBNET=${c.HW_SUBNET} ${why}: the load generator's shim reaches the VIP on the container subnet`);
  }
  return out;
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const n = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(ip) / size) === Math.floor(n(net) / size);
}

/** Legal but risky settings, printed at the start of a run. */
function configWarnings(c: Config): string[] {
  const out: string[] = [];
  if (!c.CONTROLLER_LISTEN.startsWith('127.') && !c.CONTROLLER_TOKEN) {
    out.push(`CONTROLLER_LISTEN=${c.CONTROLLER_LISTEN} with an empty CONTROLLER_TOKEN: anyone who reaches that address can re-program the switch; set CONTROLLER_TOKEN`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Replace `{host}` in a per-host path template (REMOTE_PROJECT_DIR, CHECKPOINT_DIR). */
export function hostDir(template: string, hostName: string): string {
  if (!/^[a-z0-9_-]+$/.test(hostName)) throw new Error(`hostDir: host name ${show(hostName)} is not a plain name`);
  return template.replaceAll('{host}', hostName);
}

/** A path on this machine: relative paths are relative to the project dir. */
export function localPath(projectDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(projectDir, p);
}

export function isSecret(key: KeyName): boolean {
  return Boolean((KEYS[key] as { secret?: boolean }).secret);
}

/** argv with the values of secret keys replaced (`--set CONTROLLER_TOKEN=…` → `<redacted>`), for files a run writes. */
export function redactArgv(argv: string[]): string[] {
  const hide = (kv: string) => {
    const e = kv.indexOf('=');
    return e > 0 && (kv.slice(0, e) in KEYS) && isSecret(kv.slice(0, e) as KeyName) ? `${kv.slice(0, e)}=<redacted>` : kv;
  };
  return argv.map((a, i) => (a.startsWith('--set=') ? `--set=${hide(a.slice(6))}` : argv[i - 1] === '--set' ? hide(a) : a));
}

/** `{ key: { value, origin } }` with secrets redacted; the format of config.json. */
export function configRecord(loaded: LoadedConfig): Record<string, { value: unknown; origin: string }> {
  const out: Record<string, { value: unknown; origin: string }> = {};
  for (const k of KEY_NAMES) {
    const v = loaded.config[k];
    out[k] = { value: isSecret(k) && v !== '' ? '<redacted>' : v, origin: loaded.origins[k] };
  }
  return out;
}

/** The text of --print-config: mode line, then one line per key grouped, with its origin. */
export function formatConfig(loaded: LoadedConfig): string {
  const lines = [`mode: ${loaded.mode.testbed} (${loaded.mode.why})`];
  let group = '';
  const width = Math.max(...KEY_NAMES.map((k) => k.length));
  for (const k of KEY_NAMES) {
    if (KEYS[k].group !== group) { group = KEYS[k].group; lines.push(`# ${group}`); }
    const shown = isSecret(k) && loaded.raw[k] !== '' ? '<redacted>' : loaded.raw[k];
    lines.push(`${k.padEnd(width)} = ${shown.padEnd(28)} # ${loaded.origins[k]}`);
  }
  return lines.join('\n');
}
