// bf-rt.json → name lookups and value encoding for BF Runtime messages.
// Ids are never hard-coded: every table, key, action and data field is resolved by name, because
// hardware names carry a `pipe.` prefix that the SDE model sometimes omits and ids change per compile.

export type FieldKind = 'bytes' | 'uint32' | 'uint64' | 'bool' | 'string' | 'float';

export interface FieldInfo {
  id: number;
  name: string;
  kind: FieldKind;
  /** bits; for bytes the declared width, for uintN the N */
  width: number;
  repeated: boolean;
  matchType?: string;
}

export interface ActionInfo {
  id: number;
  name: string;
  data: FieldInfo[];
}

export interface TableInfo {
  id: number;
  name: string;
  type: string;
  keys: FieldInfo[];
  actions: ActionInfo[];
  /** table-level data fields (singletons and every member of a oneof) */
  data: FieldInfo[];
}

/** A value a caller may give for a field. Strings with dots are IPv4, with colons MAC. */
export type Value = number | bigint | string | boolean | Buffer | number[] | boolean[] | string[];

interface RawType {
  type?: string;
  width?: number;
}
interface RawField {
  id: number;
  name: string;
  repeated?: boolean;
  match_type?: string;
  type?: RawType;
}

function fieldFrom(raw: RawField, where: string): FieldInfo {
  if (typeof raw?.id !== 'number' || typeof raw?.name !== 'string') {
    throw new Error(`bf-rt.json: field without id/name in ${where}: ${JSON.stringify(raw).slice(0, 200)}`);
  }
  const t = raw.type?.type ?? 'bytes';
  let kind: FieldKind;
  let width: number;
  switch (t) {
    case 'bytes':
      kind = 'bytes';
      width = raw.type?.width ?? 0;
      break;
    case 'uint8':
    case 'uint16':
    case 'uint32':
      kind = 'uint32';
      width = raw.type?.width ?? Number(t.slice(4));
      break;
    case 'uint64':
      kind = 'uint64';
      width = 64;
      break;
    case 'int32':
      kind = 'uint32';
      width = 32;
      break; // $PORT's $SDS_TX_* fields (bf_rt_port_tf1.json)
    case 'bool':
      kind = 'bool';
      width = 1;
      break;
    case 'string':
      kind = 'string';
      width = 0;
      break;
    case 'float':
      kind = 'float';
      width = 32;
      break;
    default:
      throw new Error(`bf-rt.json: field ${raw.name} in ${where} has unsupported type ${JSON.stringify(t)}`);
  }
  return { id: raw.id, name: raw.name, kind, width, repeated: !!raw.repeated, matchType: raw.match_type };
}

/** Data items appear as `{singleton: {...}}`, `{oneof: [...]}` or (in action specs) bare fields. */
function flattenData(items: unknown[] | undefined, where: string): FieldInfo[] {
  const out: FieldInfo[] = [];
  for (const item of items ?? []) {
    const it = item as { singleton?: RawField; oneof?: RawField[] } & RawField;
    if (it.singleton) out.push(fieldFrom(it.singleton, where));
    else if (Array.isArray(it.oneof)) for (const o of it.oneof) out.push(fieldFrom(o, where));
    else out.push(fieldFrom(it, where));
  }
  return out;
}

/** Parse the `tables` of a bf-rt.json text (P4 program or non-P4 config). */
export function parseBfrtJson(text: string | Buffer, origin = 'bf-rt.json'): TableInfo[] {
  let doc: { tables?: unknown[] };
  try {
    doc = JSON.parse(text.toString());
  } catch (e) {
    throw new Error(`${origin}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(doc.tables)) throw new Error(`${origin}: no "tables" array`);
  return doc.tables.map((t) => {
    const raw = t as {
      id: number;
      name: string;
      table_type?: string;
      key?: RawField[];
      action_specs?: { id: number; name: string; data?: unknown[] }[];
      data?: unknown[];
    };
    const where = `${origin} table ${raw.name}`;
    return {
      id: raw.id,
      name: raw.name,
      type: raw.table_type ?? '',
      keys: (raw.key ?? []).map((k) => fieldFrom(k, where)),
      actions: (raw.action_specs ?? []).map((a) => ({
        id: a.id,
        name: a.name,
        data: flattenData(a.data, `${where} action ${a.name}`),
      })),
      data: flattenData(raw.data, where),
    };
  });
}

const stripPipe = (n: string): string => n.replace(/^pipe\./, '');

/**
 * Find by name, tolerant of the `pipe.` prefix and of a shortened name that is a unique
 * dotted suffix (e.g. `forward` for `pipe.SwitchIngress.forward`).
 */
export function byName<T extends { name: string }>(items: readonly T[], name: string, what: string): T {
  const want = stripPipe(name);
  const exact = items.filter((i) => stripPipe(i.name) === want);
  if (exact.length === 1) return exact[0];
  const suffix = items.filter((i) => stripPipe(i.name).endsWith(`.${want}`));
  if (suffix.length === 1) return suffix[0];
  const known = items.map((i) => i.name).join(', ');
  if (exact.length + suffix.length > 1)
    throw new Error(
      `${what} name ${JSON.stringify(name)} is ambiguous; candidates: ${[...exact, ...suffix].map((i) => i.name).join(', ')}`,
    );
  throw new Error(`unknown ${what} ${JSON.stringify(name)}; known: ${known || '(none)'}`);
}

export function hasName<T extends { name: string }>(items: readonly T[], name: string): boolean {
  try {
    byName(items, name, 'x');
    return true;
  } catch {
    return false;
  }
}

// ---- values ------------------------------------------------------------------------------

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export const isIpv4 = (s: unknown): s is string => typeof s === 'string' && IPV4.test(s);
export const isMac = (s: unknown): s is string => typeof s === 'string' && MAC.test(s);

/** Big-endian bytes of ceil(width/8); refuses values that do not fit in `width` bits. */
export function encodeBytes(value: Value, width: number, field: string): Buffer {
  const size = Math.ceil(width / 8);
  let n: bigint;
  if (Buffer.isBuffer(value)) {
    if (value.length !== size) throw new Error(`${field}: expected ${size} bytes, got ${value.length}`);
    return value;
  } else if (typeof value === 'string' && IPV4.test(value)) {
    n = value.split('.').reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
  } else if (typeof value === 'string' && MAC.test(value)) {
    n = BigInt(`0x${value.split(':').join('')}`);
  } else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    n = BigInt(value);
  } else if (typeof value === 'bigint' && value >= 0n) {
    n = value;
  } else {
    throw new Error(
      `${field}: cannot encode ${JSON.stringify(String(value))} as ${width}-bit value (expected a non-negative integer, IPv4 or MAC)`,
    );
  }
  if (width > 0 && n >> BigInt(width) !== 0n) throw new Error(`${field}: value ${String(value)} does not fit in ${width} bits`);
  const buf = Buffer.alloc(size);
  for (let i = size - 1; i >= 0; i--) {
    buf[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return buf;
}

export function bytesToBigInt(b: Buffer | Uint8Array): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

/** Human-readable form of a bytes field: 32-bit bytes → dotted IPv4, 48-bit → MAC, else a number. */
export function decodeBytes(b: Buffer | Uint8Array, f: Pick<FieldInfo, 'kind' | 'width'>): string | number {
  const buf = Buffer.from(b);
  if (f.kind === 'bytes' && f.width === 32 && buf.length === 4) return [...buf].join('.');
  if (f.kind === 'bytes' && f.width === 48 && buf.length === 6)
    return [...buf].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const n = bytesToBigInt(buf);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** proto-loader plain object of a KeyField (exact match). */
export function keyField(f: FieldInfo, value: Value, table: string): Record<string, unknown> {
  const width = f.kind === 'bytes' ? f.width : f.width || 32;
  const bytes = encodeBytes(value, width, `${table} key ${f.name}`);
  switch (f.matchType ?? 'Exact') {
    case 'Exact':
      return { field_id: f.id, exact: { value: bytes } };
    case 'Ternary':
      return { field_id: f.id, ternary: { value: bytes, mask: Buffer.alloc(bytes.length, 0xff) } };
    case 'LPM':
      return { field_id: f.id, lpm: { value: bytes, prefix_len: width } };
    default:
      throw new Error(`${table} key ${f.name}: match type ${f.matchType} not supported (only exact values are written)`);
  }
}

/** proto-loader plain object of a DataField, choosing the oneof member the field's type calls for. */
export function dataField(f: FieldInfo, value: Value, where: string): Record<string, unknown> {
  const name = `${where} field ${f.name}`;
  if (f.repeated) {
    if (!Array.isArray(value)) throw new Error(`${name}: expected an array`);
    if (f.kind === 'bool') return { field_id: f.id, bool_arr_val: { val: value.map((v) => !!v) } };
    if (f.kind === 'string') return { field_id: f.id, str_arr_val: { val: value.map(String) } };
    const ints = value.map((v) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
        throw new Error(`${name}: ${JSON.stringify(v)} is not a uint32`);
      return v;
    });
    return { field_id: f.id, int_arr_val: { val: ints } };
  }
  switch (f.kind) {
    case 'bool':
      if (typeof value !== 'boolean') throw new Error(`${name}: expected a boolean`);
      return { field_id: f.id, bool_val: value };
    case 'string':
      if (typeof value !== 'string') throw new Error(`${name}: expected a string`);
      return { field_id: f.id, str_val: value };
    case 'float':
      if (typeof value !== 'number') throw new Error(`${name}: expected a number`);
      return { field_id: f.id, float_val: value };
    default:
      return { field_id: f.id, stream: encodeBytes(value, f.width || 32, name) };
  }
}

/** Decode a proto-loader DataField object back to a readable value using its FieldInfo. */
export function decodeDataField(f: FieldInfo | undefined, df: Record<string, any>): unknown {
  const which = df.value as string | undefined;
  const v = which ? df[which] : undefined;
  switch (which) {
    case 'stream':
      return f ? decodeBytes(v, f) : Buffer.from(v).toString('hex');
    case 'int_arr_val':
    case 'bool_arr_val':
    case 'str_arr_val':
      return [...(v?.val ?? [])];
    default:
      return v;
  }
}
