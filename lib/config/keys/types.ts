// The vocabulary of the key declarations: value types, the declaration record, shared patterns.

export type KeyType =
  | { kind: 'ipv4' }
  | { kind: 'cidr' }
  | { kind: 'mac' }
  | { kind: 'port' }
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'duration' }
  | { kind: 'path' }
  | { kind: 'ssh' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'bool' }
  | { kind: 'string'; pattern?: RegExp; hint?: string }
  | { kind: 'hostport' }
  | { kind: 'url'; optional?: boolean }
  | { kind: 'list'; pattern: RegExp; hint: string; min: number; max: number };

export interface KeyDecl {
  type: KeyType;
  default: string;
  description: string;
  group: string;
  secret?: boolean;
  /** CLI flag that sets this key, e.g. --steady-state */
  flag?: string;
}

export const t = {
  ipv4: { kind: 'ipv4' } as const,
  cidr: { kind: 'cidr' } as const,
  mac: { kind: 'mac' } as const,
  port: { kind: 'port' } as const,
  int: (min?: number, max?: number) => ({ kind: 'int', min, max }) as const,
  duration: { kind: 'duration' } as const,
  path: { kind: 'path' } as const,
  ssh: { kind: 'ssh' } as const,
  enum: <const V extends readonly string[]>(values: V) => ({ kind: 'enum', values }) as const,
  bool: { kind: 'bool' } as const,
  string: (pattern?: RegExp, hint?: string) => ({ kind: 'string', pattern, hint }) as const,
  hostport: { kind: 'hostport' } as const,
  url: { kind: 'url', optional: true } as const,
  /** Comma-separated distinct items, each matching `pattern`; parsed to a string array. */
  list: (pattern: RegExp, hint: string, min: number, max: number) => ({ kind: 'list', pattern, hint, min, max }) as const,
};

export const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
export const IFHINT = 'an interface name (1-15 characters: letters, digits, _ . -)';
export const NAME = /^[a-z0-9][a-z0-9_.-]*$/;
export const NAMEHINT = 'a lowercase name (letters, digits, _ . -)';
export const RATE = /^$|^\d+(\.\d+)?(bit|kbit|mbit|gbit)$/;
export const RATEHINT = 'empty (unshaped) or a rate with its unit: 25gbit, 1gbit, 100mbit, 500kbit';
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
/** Bits per second of a RATE value (tc's decimal units: 1mbit = 10^6 bit/s). */
export const rateBitsPerS = (rate: string): number => {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(rate);
  if (!m) throw new Error(`not a rate: ${JSON.stringify(rate)}`);
  return Number(m[1]) * RATE_UNITS[m[2]];
};
export const TIME = /^$|^\d+(\.\d+)?(us|ms|s)$/;
export const TIMEHINT = 'empty or a time with its unit: 5ms, 200us, 1s';
export const SCHEDULE = /^(alternate|round-robin|random:\d{1,9}|list:[a-z][a-z0-9]{0,8}(,[a-z][a-z0-9]{0,8})+)$/;
export const SCHEDULE_HINT = 'alternate, round-robin, random:SEED (an integer) or list:a,b,… (two or more server names)';
