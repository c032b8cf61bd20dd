// One configuration value: the declared keys, parsing a raw string by its key's type, and the
// errors that name the key, the value, what is expected and where the value came from.
import { parseDuration } from '../run/cli.ts';
import { KEYS, type KeyName, type KeyType, type SshTarget } from './keys.ts';
import { SERVER_FIELDS, serverKey } from './keys/servers.ts';

export const KEY_NAMES = Object.keys(KEYS) as KeyName[];
/** The keys of the default SERVERS (LAKEWOOD_SSH, …), for suggestions without a loaded config. */
const DEFAULT_SERVER_KEYS = KEYS.SERVERS.default.split(',').flatMap((s) => SERVER_FIELDS.map((f) => serverKey(s, f)));

/** A bad key or value; `message` names the key, the value, what is expected and where it came from. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function isSecret(key: KeyName): boolean {
  return Boolean((KEYS[key] as { secret?: boolean }).secret);
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
    case 'ipv4':
      return 'an IPv4 address such as 192.168.12.2';
    case 'cidr':
      return 'an IPv4 prefix such as 192.168.12.0/24';
    case 'mac':
      return 'a MAC address such as 02:42:c0:a8:0c:02';
    case 'port':
      return 'a TCP port 1-65535';
    case 'int':
      return `an integer${type.min !== undefined ? ` >= ${type.min}` : ''}${type.max !== undefined ? ` and <= ${type.max}` : ''}`;
    case 'duration':
      return 'a duration such as 500ms, 15s, 2m';
    case 'path':
      return 'a path (no newlines or NUL)';
    case 'ssh':
      return 'an SSH target user@host[:port]';
    case 'enum':
      return `one of ${type.values.join(', ')}`;
    case 'bool':
      return 'true or false';
    case 'string':
      return type.hint ?? (type.pattern ? `a string matching ${type.pattern}` : 'a string');
    case 'hostport':
      return 'host:port such as 127.0.0.1:50052';
    case 'url':
      return `an http(s) URL${type.optional ? ' or empty' : ''}`;
    case 'list':
      return `${type.min}-${type.max} distinct comma-separated names, each ${type.hint}`;
  }
}

/** Parse one raw value by type; throws a plain Error with the expectation (context is added by the caller). */
export function parseByType(type: KeyType, raw: string): unknown {
  const v = raw.trim();
  const bad = (): never => {
    throw new Error(`expected ${expected(type)}`);
  };
  switch (type.kind) {
    case 'ipv4':
      return isIpv4(v) ? v : bad();
    case 'cidr': {
      const [ip, len, ...rest] = v.split('/');
      if (rest.length || !isIpv4(ip) || !/^\d{1,2}$/.test(len ?? '') || Number(len) > 32) bad();
      return v;
    }
    case 'mac':
      return /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(v) ? v.toLowerCase() : bad();
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
      try {
        return parseDuration(v);
      } catch {
        return bad();
      }
    case 'path':
      return /[\n\0]/.test(raw) ? bad() : v;
    case 'ssh':
      try {
        return parseSshTarget(v);
      } catch (e) {
        throw new Error(`expected an SSH target user@host[:port] (${(e as Error).message.replace(/^expected /, '')})`);
      }
    case 'enum':
      return type.values.includes(v) ? v : bad();
    case 'bool': {
      const l = v.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(l)) return true;
      if (['false', '0', 'no', 'off'].includes(l)) return false;
      return bad();
    }
    case 'string':
      return !type.pattern || type.pattern.test(v) ? v : bad();
    case 'hostport': {
      const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(v);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) bad();
      return v;
    }
    case 'list': {
      const items = v.split(',').map((x) => x.trim());
      if (items.length < type.min || items.length > type.max || !items.every((x) => type.pattern.test(x))) bad();
      const dup = items.find((x, i) => items.indexOf(x) !== i);
      if (dup !== undefined) throw new Error(`${show(dup)} appears twice; expected ${expected(type)}`);
      return items;
    }
    case 'url': {
      if (v === '' && type.optional) return '';
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:' ? v : bad();
      } catch {
        return bad();
      }
    }
  }
}

export function show(raw: string): string {
  return JSON.stringify(raw);
}

/** Parse one key's raw value, with an error naming key, value, expected type and origin. */
export function parseKey(key: KeyName, raw: string, origin: string): unknown {
  return parseDeclared(key, KEYS[key], raw, origin);
}

/** parseKey for any declaration, e.g. a server's template key (keys/servers.ts). */
export function parseDeclared(key: string, decl: { type: KeyType; secret?: boolean }, raw: string, origin: string): unknown {
  try {
    return parseByType(decl.type, raw);
  } catch (e) {
    const value = decl.secret ? '<redacted>' : show(raw);
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

/** The declared key closest to `name` (or to one of `also`, e.g. the servers' keys), when close enough to be a likely typo. */
export function suggestKey(name: string, also: readonly string[] = DEFAULT_SERVER_KEYS): string | undefined {
  const up = name.toUpperCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of [...KEY_NAMES, ...also]) {
    const dist = editDistance(up, k);
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

export function unknownKey(name: string, origin: string): ConfigError {
  const s = suggestKey(name);
  return new ConfigError(
    `unknown config key ${name} (from ${origin})${s ? `; did you mean ${s}?` : ''} (declared keys are in lib/config/keys.ts)`,
  );
}
