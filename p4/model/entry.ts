// The switch model's table entries and their BF Runtime wire form: the entry and state records,
// and the decoding of a wire TableEntry against the schema (ids, widths, match types, action
// scope, mandatory and oneof fields) with the gRPC codes switchd gives each refusal (see tables.ts).
import { status as Code } from '@grpc/grpc-js';
import { bitWidth, byteWidth, type DataFieldSpec, type Schema, type TableSpec } from './schema.ts';

export type Value =
  | { kind: 'stream'; v: Buffer }
  | { kind: 'str'; v: string }
  | { kind: 'bool'; v: boolean }
  | { kind: 'ints'; v: number[] }
  | { kind: 'bools'; v: boolean[] }
  | { kind: 'float'; v: number };

/** `handle`: the entry handle switchd hands out (kept across MODIFY, as pipe_mgr does). */
export interface Entry {
  key: Map<number, Buffer>;
  actionId: number;
  data: Map<number, Value>;
  handle?: number;
}
/** table id → (key string → entry). Entries are never mutated, so a Write can work on a shallow copy. */
export type State = Map<number, Map<string, Entry>>;

export type ModelError = Error & { code: number };
export function modelError(code: number, message: string): ModelError {
  return Object.assign(new Error(message), { code });
}

export const emptyState = (schema: Schema): State => new Map(schema.tables.map((t) => [t.id, new Map()]));
export const copyState = (s: State): State => new Map([...s].map(([id, m]) => [id, new Map(m)]));

// ---- wire shapes (as @grpc/proto-loader decodes them with keepCase and oneofs) -------------
export interface WireKeyField {
  field_id: number;
  match_type?: string;
  exact?: { value: Buffer };
  [k: string]: unknown;
}
export interface WireDataField {
  field_id: number;
  value?: string;
  stream?: Buffer;
  str_val?: string;
  bool_val?: boolean;
  float_val?: number;
  int_arr_val?: { val: number[] };
  bool_arr_val?: { val: boolean[] };
  [k: string]: unknown;
}
export interface WireTableEntry {
  table_id: number;
  value?: string;
  key?: { fields: WireKeyField[] } | null;
  data?: { action_id: number; fields: WireDataField[] } | null;
  is_default_entry?: boolean;
  handle_id?: number;
}

export const keyString = (key: Map<number, Buffer>): string =>
  [...key]
    .sort((a, b) => a[0] - b[0])
    .map(([id, b]) => `${id}:${b.toString('hex')}`)
    .join(',');

/** Human-readable key for logs and error messages, e.g. `hdr.ipv4.dst_addr=192.168.12.10`. */
export function describeKey(table: TableSpec, key: Map<number, Buffer>): string {
  if (key.size === 0) return '(all)';
  return [...key]
    .map(([id, b]) => {
      const f = table.key.find((k) => k.id === id);
      return `${f?.name ?? id}=${formatBytes(b, f ? bitWidth(f.type) : 0, f?.name ?? '')}`;
    })
    .join(' ');
}
function formatBytes(b: Buffer, width: number, name: string): string {
  if (width === 32 && /addr|dst|src/.test(name) && b.length === 4) return [...b].join('.');
  if (width === 48 && b.length === 6) return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return b.length <= 6 ? String(b.readUIntBE(0, b.length)) : `0x${b.toString('hex')}`;
}

export const bufToUint = (b: Buffer): number => (b.length === 0 ? 0 : b.readUIntBE(0, Math.min(b.length, 6)));
export const keyUint = (key: Map<number, Buffer>): number => bufToUint(key.values().next().value ?? Buffer.alloc(0));

function checkWidth(what: string, b: Buffer, bits: number, bytes: number): void {
  if (b.length !== bytes) {
    throw modelError(
      Code.INVALID_ARGUMENT,
      `${what}: value has ${b.length} bytes, expected ${bytes} (${bits}-bit field, big-endian)`,
    );
  }
  const extra = bytes * 8 - bits;
  if (extra > 0 && b[0] >> (8 - extra) !== 0) {
    throw modelError(Code.INVALID_ARGUMENT, `${what}: value 0x${b.toString('hex')} exceeds ${bits} bits`);
  }
}

export function decodeKey(table: TableSpec, raw: WireTableEntry['key']): Map<number, Buffer> {
  const key = new Map<number, Buffer>();
  for (const f of raw?.fields ?? []) {
    const spec = table.key.find((k) => k.id === f.field_id);
    if (!spec)
      throw modelError(
        Code.INVALID_ARGUMENT,
        `table ${table.name}: no key field with id ${f.field_id} (known: ${table.key.map((k) => `${k.id}=${k.name}`).join(', ')})`,
      );
    const mt = f.match_type ?? (f.exact ? 'exact' : 'none');
    if (mt !== 'exact' || !f.exact)
      throw modelError(Code.INVALID_ARGUMENT, `table ${table.name} key ${spec.name}: match type ${mt}, expected exact`);
    const value = Buffer.from(f.exact.value ?? Buffer.alloc(0));
    checkWidth(`table ${table.name} key ${spec.name}`, value, bitWidth(spec.type), byteWidth(spec.type));
    if (key.has(spec.id)) throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: key field ${spec.name} given twice`);
    key.set(spec.id, value);
  }
  return key;
}

// bf-p4c marks P4 match keys optional (switchd then matches a missing exact field as 0); the
// model asks for every key field, so a forgotten one is an error rather than a silent 0.
export function requireFullKey(table: TableSpec, key: Map<number, Buffer>): void {
  const missing = table.key.filter((k) => !key.has(k.id)).map((k) => k.name);
  if (missing.length) throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: key field(s) ${missing.join(', ')} missing`);
}

function decodeValue(where: string, spec: DataFieldSpec, f: WireDataField): Value {
  const kind =
    f.value ??
    Object.keys(f).find(
      (k) => ['stream', 'str_val', 'bool_val', 'int_arr_val', 'bool_arr_val', 'float_val'].includes(k) && f[k] != null,
    );
  const t = spec.type.type;
  // BfRtTableData::setValue refuses read-only fields (BF_INVALID_ARG).
  if (spec.read_only) throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} is read-only`);
  if (t === 'float') {
    if (kind !== 'float_val') throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} needs float_val, got ${kind}`);
    return { kind: 'float', v: Number(f.float_val) };
  }
  if (spec.repeated && t === 'uint32') {
    if (kind !== 'int_arr_val') throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} needs int_arr_val, got ${kind}`);
    return { kind: 'ints', v: [...(f.int_arr_val?.val ?? [])].map(Number) };
  }
  if (spec.repeated && t === 'bool') {
    if (kind !== 'bool_arr_val')
      throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} needs bool_arr_val, got ${kind}`);
    return { kind: 'bools', v: [...(f.bool_arr_val?.val ?? [])] };
  }
  if (t === 'bool') {
    if (kind !== 'bool_val') throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} needs bool_val, got ${kind}`);
    return { kind: 'bool', v: !!f.bool_val };
  }
  if (t === 'string') {
    if (kind !== 'str_val') throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} needs str_val, got ${kind}`);
    const v = String(f.str_val);
    if (spec.type.choices && !spec.type.choices.includes(v)) {
      throw modelError(
        Code.INVALID_ARGUMENT,
        `${where}: ${spec.name} = ${JSON.stringify(v)} is not one of ${spec.type.choices.join(', ')}`,
      );
    }
    return { kind: 'str', v };
  }
  if (kind !== 'stream') throw modelError(Code.INVALID_ARGUMENT, `${where}: ${spec.name} needs stream bytes, got ${kind}`);
  const b = Buffer.from(f.stream ?? Buffer.alloc(0));
  checkWidth(`${where} ${spec.name}`, b, bitWidth(spec.type), byteWidth(spec.type));
  return { kind: 'stream', v: b };
}

export function decodeData(
  table: TableSpec,
  raw: WireTableEntry['data'],
  forModify: boolean,
  forDefault = false,
): { actionId: number; data: Map<number, Value> } {
  const data = new Map<number, Value>();
  const fields = raw?.fields ?? [];
  if (table.actions.length > 0) {
    const action = table.actions.find((a) => a.id === raw?.action_id);
    if (!action) {
      throw modelError(
        Code.INVALID_ARGUMENT,
        `table ${table.name}: action id ${raw?.action_id ?? 0} is not an action of this table (known: ${table.actions.map((a) => `${a.id}=${a.name}`).join(', ')})`,
      );
    }
    if (action.action_scope === (forDefault ? 'TableOnly' : 'DefaultOnly'))
      throw modelError(
        Code.INVALID_ARGUMENT,
        `table ${table.name}: action ${action.name} is ${action.action_scope === 'TableOnly' ? 'table-only, not allowed as the default' : 'default-only, not allowed in an entry'}`,
      );
    for (const f of fields) {
      const spec = action.data.find((d) => d.id === f.field_id);
      if (!spec)
        throw modelError(Code.INVALID_ARGUMENT, `table ${table.name} action ${action.name}: no parameter with id ${f.field_id}`);
      data.set(spec.id, decodeValue(`table ${table.name} action ${action.name}`, spec, f));
    }
    const missing = action.data.filter((d) => !data.has(d.id)).map((d) => d.name);
    if (missing.length)
      throw modelError(
        Code.INVALID_ARGUMENT,
        `table ${table.name} action ${action.name}: parameter(s) ${missing.join(', ')} missing`,
      );
    return { actionId: action.id, data };
  }
  if (raw?.action_id)
    throw modelError(Code.INVALID_ARGUMENT, `table ${table.name} has no actions, got action id ${raw.action_id}`);
  for (const f of fields) {
    const spec = table.data.find((d) => d.id === f.field_id);
    if (!spec)
      throw modelError(
        Code.INVALID_ARGUMENT,
        `table ${table.name}: no data field with id ${f.field_id} (known: ${table.data.map((d) => `${d.id}=${d.name}`).join(', ')})`,
      );
    data.set(spec.id, decodeValue(`table ${table.name}`, spec, f));
  }
  const oneofs = new Map<number, number>();
  for (const id of data.keys()) {
    const g = table.data.find((d) => d.id === id)?.oneofGroup;
    if (g !== undefined) oneofs.set(g, (oneofs.get(g) ?? 0) + 1);
  }
  if ([...oneofs.values()].some((n) => n > 1))
    throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: more than one field of a oneof given`);
  if (!forModify) {
    const missing = table.data.filter((d) => d.mandatory && !data.has(d.id)).map((d) => d.name);
    if (missing.length)
      throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: data field(s) ${missing.join(', ')} missing`);
  }
  return { actionId: 0, data };
}

/** An entry as a wire TableEntry (the shape proto-loader serializes). */
export function encodeEntry(table: TableSpec, e: Entry): object {
  const fields = [...e.data].map(([id, v]) => {
    switch (v.kind) {
      case 'stream':
        return { field_id: id, stream: v.v };
      case 'str':
        return { field_id: id, str_val: v.v };
      case 'bool':
        return { field_id: id, bool_val: v.v };
      case 'ints':
        return { field_id: id, int_arr_val: { val: v.v } };
      case 'bools':
        return { field_id: id, bool_arr_val: { val: v.v } };
      case 'float':
        return { field_id: id, float_val: v.v };
      default:
        throw new Error(`table ${table.name}: data field ${id} of unknown kind ${JSON.stringify((v as { kind: unknown }).kind)}`);
    }
  });
  return {
    table_id: table.id,
    key: { fields: [...e.key].map(([id, b]) => ({ field_id: id, exact: { value: b } })) },
    data: { action_id: e.actionId, fields },
  };
}
