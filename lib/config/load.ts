// Configuration: parse and layer every declared key, remember where each value came from.
// Layers, later wins: config.env → hardware overlay (config_hw.env or --config FILE) → environment
// (declared names only) → CLI flags. Everything is validated here, before any host is touched.
// The parsing of one value is in values.ts, files and flags in sources.ts.
import { existsSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { KEYS, type Config, type ConfigKey, type KeyName } from './keys.ts';
import { parseServerKey } from './keys/servers.ts';
import { configKeys, declOf, serverProblems, unknownServerKey } from './servers.ts';
import { parseConfigFlags, readEnvFile, type FileEntry } from './sources.ts';
import { ConfigError, isSecret, KEY_NAMES, parseDeclared, parseKey, show, unknownKey } from './values.ts';
import { extraBackends } from '../server/backend.ts';

export interface Mode {
  testbed: 'local' | 'hw';
  why: string;
}

export interface LoadedConfig {
  config: Config;
  /** `default`, `config.env:12`, `config_hw.env:7`, `env`, `--steady-state`, `--set` … */
  origins: Record<ConfigKey, string>;
  /** The raw string each value was parsed from (before unit conversion). */
  raw: Record<ConfigKey, string>;
  mode: Mode;
  projectDir: string;
  /** Legal but risky settings (printed by the runner). */
  warnings: string[];
  /** Every key of this configuration (the declared ones and those of each server), in order. */
  keys: ConfigKey[];
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
  /** false: read no config.env and no overlay (the declared defaults, then env and flags). */
  files?: boolean;
}

/** The configuration of the declared defaults alone (and `argv`'s --set): for tests and tools. */
export function defaultConfig(argv: string[] = []): Config {
  return loadConfig({ env: {}, files: false, argv }).config;
}

// ---------------------------------------------------------------------------------------------
// layering

const SSH_KEYS = KEY_NAMES.filter((k) => KEYS[k].type.kind === 'ssh');
const isSshKey = (k: string) => SSH_KEYS.includes(k as KeyName) || parseServerKey(k)?.field === 'SSH';

/** Load, layer and validate the configuration. Throws ConfigError before anything touches a host. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const projectDir = resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const flags = parseConfigFlags(opts.argv ?? []);

  const raw = {} as Record<ConfigKey, string>;
  const origins = {} as Record<ConfigKey, string>;
  for (const k of KEY_NAMES) {
    raw[k] = KEYS[k].default;
    origins[k] = 'default';
  }
  // Keys of servers (<NAME>_SSH, …): which exist depends on SERVERS, known only after all layers.
  const serverEntries: FileEntry[] = [];

  const apply = (entries: FileEntry[]) => {
    for (const e of entries) {
      if (parseServerKey(e.key) && !(e.key in KEYS)) serverEntries.push(e);
      else if (!(e.key in KEYS)) throw unknownKey(e.key, e.origin);
      else {
        raw[e.key as KeyName] = e.value;
        origins[e.key as KeyName] = e.origin;
      }
    }
  };

  const files = opts.files !== false;
  const base = resolve(projectDir, 'config.env');
  if (files && existsSync(base)) apply(readEnvFile(base));

  const overlayArg = flags.configFile ?? opts.configFile;
  const defaultOverlay = resolve(projectDir, 'config_hw.env');
  const overlay = overlayArg ? resolve(projectDir, overlayArg) : files && existsSync(defaultOverlay) ? defaultOverlay : undefined;
  let modeWhy = overlayArg ? '' : 'no config_hw.env and no --config';
  if (overlay) {
    if (overlayArg && !existsSync(overlay)) throw new ConfigError(`--config ${overlayArg}: file ${overlay} does not exist`);
    const label = basename(overlay);
    const entries = readEnvFile(overlay, label);
    apply(entries);
    const via = overlayArg ? `--config ${overlayArg}` : `${label} present`;
    const explicit = entries.find((e) => e.key === 'TESTBED');
    const sshEntry = entries.find((e) => isSshKey(e.key));
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
    if (v !== undefined) {
      raw[k] = v;
      origins[k] = 'env';
    }
  }
  const sets: FileEntry[] = [];
  for (const s of flags.sets) {
    if (parseServerKey(s.key) && !(s.key in KEYS)) sets.push(s);
    else if (!(s.key in KEYS)) throw unknownKey(s.key, s.origin);
    else {
      raw[s.key as KeyName] = s.value;
      origins[s.key as KeyName] = s.origin;
    }
  }

  // SERVERS decides which server keys exist: parse it first, then layer theirs (files, env, --set).
  const servers = parseKey('SERVERS', raw.SERVERS, origins.SERVERS) as string[];
  const keys = configKeys(servers);
  for (const k of keys.slice()) {
    if (k in KEYS) continue;
    raw[k] = declOf(k, servers, raw.MGMT_SUBNET)!.default;
    origins[k] = 'default';
  }
  const serverLayer = [
    ...serverEntries,
    ...keys.filter((k) => !(k in KEYS) && env[k] !== undefined).map((k) => ({ key: k, value: env[k]!, origin: 'env' })),
    ...sets,
  ];
  for (const e of serverLayer) {
    const name = parseServerKey(e.key)!.name;
    if (!servers.includes(name)) throw new ConfigError(unknownServerKey(e.key, e.origin, name, servers, origins.SERVERS));
    raw[e.key as ConfigKey] = e.value;
    origins[e.key as ConfigKey] = e.origin;
  }

  const config = {} as Record<ConfigKey, unknown>;
  const errors: string[] = [];
  for (const k of keys) {
    try {
      config[k] = parseDeclared(k, declOf(k, servers, raw.MGMT_SUBNET)!, raw[k], origins[k]);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length) throw new ConfigError(errors.length === 1 ? errors[0] : `invalid configuration:\n  ${errors.join('\n  ')}`);

  const testbed = config.TESTBED as 'local' | 'hw';
  const crossErrors = crossKeyProblems(config as Config, raw, origins, testbed);
  if (crossErrors.length)
    throw new ConfigError(crossErrors.length === 1 ? crossErrors[0] : `invalid configuration:\n  ${crossErrors.join('\n  ')}`);
  if (origins.TESTBED === 'env' || origins.TESTBED.startsWith('--')) modeWhy = `TESTBED=${testbed} from ${origins.TESTBED}`;
  else if (!modeWhy) modeWhy = `TESTBED=${testbed} from ${origins.TESTBED}`;
  return {
    config: config as Config,
    origins,
    raw,
    mode: { testbed, why: modeWhy },
    projectDir,
    warnings: configWarnings(config as Config),
    keys,
  };
}

/** Keys that shape the local testbed's links (lib/modes/local/shaping.ts). */
const LINK_KEYS = [
  'LINK_RATE',
  'LINK_DELAY',
  'LINK_JITTER',
  'LINK_LOSS',
  'DIRECT_LINK_RATE',
  'DIRECT_LINK_DELAY',
] as const satisfies readonly KeyName[];

/** The addresses the controller programs as nodes or VIP: each must be distinct. */
const NODE_ADDRESS_KEYS = ['VIP', 'H2_IP', 'H3_IP', 'SHIM_IP'] as const satisfies readonly KeyName[];

/** A value set only by the defaults or config.env: the local testbed's, never a lab's. */
const localDefault = (origin: string) => origin === 'default' || origin.startsWith('config.env:');

function crossKeyProblems(
  c: Config,
  raw: Record<ConfigKey, string>,
  origins: Record<ConfigKey, string>,
  testbed: 'local' | 'hw',
): string[] {
  const out: string[] = [];
  const seen = new Map<string, KeyName>();
  for (const k of NODE_ADDRESS_KEYS) {
    const ip = c[k] as string;
    const first = seen.get(ip);
    if (first)
      out.push(
        `${k}=${ip} (from ${origins[k]}) is also ${first} (from ${origins[first]}): the switch would program two nodes with one address; give each its own`,
      );
    else seen.set(ip, k);
  }
  out.push(...vipProblems(c, origins));
  const shaped = LINK_KEYS.filter((k) => c[k] !== '');
  if (testbed === 'hw' && shaped.length) {
    out.push(
      `${shaped.map((k) => `${k}=${c[k]} (from ${origins[k]})`).join(', ')}: link emulation shapes the local testbed's veths; a hardware testbed's links are real — unset ${shaped.length > 1 ? 'them' : 'it'} (or emulate with TESTBED=local)`,
    );
  }
  if (c.LINK_JITTER && !c.LINK_DELAY)
    out.push(
      `LINK_JITTER=${c.LINK_JITTER} (from ${origins.LINK_JITTER}) needs LINK_DELAY: jitter varies a delay (e.g. LINK_DELAY=5ms LINK_JITTER=1ms)`,
    );
  if (c.SWITCH_UPDATE_FROM === 'source' && c.CONTROLLER_LISTEN.startsWith('127.')) {
    out.push(
      `SWITCH_UPDATE_FROM=source (from ${origins.SWITCH_UPDATE_FROM}) needs the servers to reach the controller, but CONTROLLER_LISTEN=${c.CONTROLLER_LISTEN} (from ${origins.CONTROLLER_LISTEN}) is loopback: set CONTROLLER_LISTEN to the switch's management address (and CONTROLLER_TOKEN)`,
    );
  }
  if (testbed === 'hw' && (c.MIGRATION_ENGINE === 'runc' || c.MIGRATION_ENGINE === 'lazy')) {
    out.push(
      `MIGRATION_ENGINE=${c.MIGRATION_ENGINE} (from ${origins.MIGRATION_ENGINE}) restores the container record podman already holds, which only a podman storage both servers share has (the local testbed's); on two hardware servers the target has none and podman 4.3 creates one only from an exported archive: use MIGRATION_ENGINE=podman on hardware`,
    );
  }
  if (testbed === 'hw' && localDefault(origins.TOFINO_SSH)) {
    // Falling back to the local testbed's management address would send the run to the wrong machine.
    out.push(
      `TOFINO_SSH is not set for the hardware testbed (it would be the local testbed's ${raw.TOFINO_SSH} from ${origins.TOFINO_SSH}): set it in the hardware overlay (config_hw.env or --config FILE), the environment or with --set`,
    );
  }
  out.push(...serverProblems(c, raw, origins, testbed, localDefault));
  return out;
}

/** VIP mode: the VIP is what clients see, never any backend's own address, and inside the container subnet. */
function vipProblems(c: Config, origins: Record<KeyName, string>): string[] {
  if (c.MIGRATION_MODE !== 'vip') {
    return c.BACKENDS > 1
      ? [
          `BACKENDS=${c.BACKENDS} (from ${origins.BACKENDS}) needs MIGRATION_MODE=vip (from ${origins.MIGRATION_MODE} it is ${c.MIGRATION_MODE}): only clients of the VIP are spread over backends`,
        ]
      : [];
  }
  const out: string[] = [];
  const why = `(MIGRATION_MODE=vip from ${origins.MIGRATION_MODE})`;
  for (const k of ['H2_IP', 'H3_IP'] as const) {
    if (c[k] === c.VIP)
      out.push(
        `VIP=${c.VIP} (from ${origins.VIP}) is also the backend address ${k} (from ${origins[k]}) ${why}: the VIP must be an address no backend holds`,
      );
  }
  if (c.H2_MAC.toLowerCase() === c.H3_MAC.toLowerCase()) {
    out.push(
      `H3_MAC=${c.H3_MAC} (from ${origins.H3_MAC}) equals H2_MAC (from ${origins.H2_MAC}) ${why}: the container takes H3_MAC on the second server, which must differ from its MAC on the first`,
    );
  }
  const taken = new Map<string, string>([
    [c.VIP, 'VIP'],
    [c.H2_IP, 'H2_IP'],
    [c.H3_IP, 'H3_IP'],
    [c.SHIM_IP, 'SHIM_IP'],
    [c.HW_GATEWAY, 'HW_GATEWAY'],
  ]);
  for (const b of extraBackends(c)) {
    const clash = taken.get(b.ip);
    if (clash || !inSubnet(b.ip, c.HW_SUBNET)) {
      out.push(
        `BACKENDS=${c.BACKENDS} (from ${origins.BACKENDS}): backend ${b.k} takes ${b.ip} (HW_SUBNET host ${20 + b.k}), which ${clash ? `is ${clash}=${c[clash as KeyName]} (from ${origins[clash as KeyName]})` : `is outside HW_SUBNET=${c.HW_SUBNET}`}; move that key or use fewer backends`,
      );
    }
  }
  if (!inSubnet(c.VIP, c.HW_SUBNET)) {
    out.push(
      `VIP=${c.VIP} (from ${origins.VIP}) is outside HW_SUBNET=${c.HW_SUBNET} ${why}: the load generator's shim reaches the VIP on the container subnet`,
    );
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
  if (c.TESTBED === 'hw' && c.SWITCH_UPDATE_FROM === 'auto' && c.CONTROLLER_LISTEN.startsWith('127.')) {
    out.push(
      "switch updates go from this machine through the SSH forward (the published scripts sent them from the source server, outside this machine's round trips): set CONTROLLER_LISTEN to the switch's management address to do the same, or SWITCH_UPDATE_FROM=control to keep this and silence the warning",
    );
  }
  if (!c.CONTROLLER_LISTEN.startsWith('127.') && !c.CONTROLLER_TOKEN) {
    out.push(
      `CONTROLLER_LISTEN=${c.CONTROLLER_LISTEN} with an empty CONTROLLER_TOKEN: anyone who reaches that address can re-program the switch; set CONTROLLER_TOKEN`,
    );
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

/** argv with the values of secret keys replaced (`--set CONTROLLER_TOKEN=…` → `<redacted>`), for files a run writes. */
export function redactArgv(argv: string[]): string[] {
  const hide = (kv: string) => {
    const e = kv.indexOf('=');
    return e > 0 && kv.slice(0, e) in KEYS && isSecret(kv.slice(0, e) as KeyName) ? `${kv.slice(0, e)}=<redacted>` : kv;
  };
  return argv.map((a, i) => (a.startsWith('--set=') ? `--set=${hide(a.slice(6))}` : argv[i - 1] === '--set' ? hide(a) : a));
}

const secret = (k: ConfigKey) => k in KEYS && isSecret(k as KeyName);

/** `{ key: { value, origin } }` with secrets redacted; the format of config.json. */
export function configRecord(loaded: LoadedConfig): Record<string, { value: unknown; origin: string }> {
  const out: Record<string, { value: unknown; origin: string }> = {};
  for (const k of loaded.keys) {
    const v = loaded.config[k as KeyName];
    out[k] = { value: secret(k) && v !== '' ? '<redacted>' : v, origin: loaded.origins[k] };
  }
  return out;
}

/** The text of --print-config: mode line, then one line per key grouped, with its origin. */
export function formatConfig(loaded: LoadedConfig): string {
  const lines = [`mode: ${loaded.mode.testbed} (${loaded.mode.why})`];
  let group = '';
  const width = Math.max(...loaded.keys.map((k) => k.length));
  const servers = loaded.config.SERVERS;
  for (const k of loaded.keys) {
    const g = declOf(k, servers, loaded.raw.MGMT_SUBNET)!.group;
    if (g !== group) {
      group = g;
      lines.push(`# ${group}`);
    }
    const shown = secret(k) && loaded.raw[k] !== '' ? '<redacted>' : loaded.raw[k];
    lines.push(`${k.padEnd(width)} = ${shown.padEnd(28)} # ${loaded.origins[k]}`);
  }
  return lines.join('\n');
}
