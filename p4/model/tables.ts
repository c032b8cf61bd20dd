// Table state of the switch model and the BF Runtime write/read semantics of switchd:
// validation against the schema, duplicate/missing entries, and the referential integrity
// of action profile members, selector groups and the indirect match table. Every error carries
// the gRPC code switchd's to_grpc_status (bf_rt_server_impl.hpp) gives the bf_status the SDE
// returns for it: BF_INVALID_ARG → INVALID_ARGUMENT, BF_OBJECT_NOT_FOUND/BF_TABLE_NOT_FOUND →
// NOT_FOUND, BF_ALREADY_EXISTS/BF_ENTRY_REFERENCES_EXIST → ALREADY_EXISTS, BF_NOT_SUPPORTED/
// BF_NOT_IMPLEMENTED → UNIMPLEMENTED.
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
let nextHandle = 1;
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

const bufToUint = (b: Buffer): number => (b.length === 0 ? 0 : b.readUIntBE(0, Math.min(b.length, 6)));

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
function requireFullKey(table: TableSpec, key: Map<number, Buffer>): void {
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

// ---- reserved fields ------------------------------------------------------------------------
export const fieldId = (table: TableSpec, name: string): number | undefined => table.data.find((d) => d.name === name)?.id;
const relatedTable = (schema: Schema, table: TableSpec, type: string): TableSpec | undefined =>
  table.depends_on.map((id) => schema.byId.get(id)).find((t) => t?.table_type === type);
/** The key of a member/group id in an action profile or selector (their one uint32 key field). */
const uintKey = (t: TableSpec, n: number): Map<number, Buffer> => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return new Map([[t.key[0]?.id ?? 1, b]]);
};

/** The members of a selector group with their status, in group order. */
export function groupMembers(table: TableSpec, e: Entry): { member: number; active: boolean }[] {
  const ids = e.data.get(fieldId(table, '$ACTION_MEMBER_ID') ?? -1);
  const st = e.data.get(fieldId(table, '$ACTION_MEMBER_STATUS') ?? -1);
  const members = ids?.kind === 'ints' ? ids.v : [];
  const status = st?.kind === 'bools' ? st.v : [];
  return members.map((m, i) => ({ member: m, active: status[i] ?? true }));
}

/** What an indirect-selector entry points at. */
export function indirectTarget(table: TableSpec, e: Entry): { kind: 'member' | 'group'; id: number } | undefined {
  const m = e.data.get(fieldId(table, '$ACTION_MEMBER_ID') ?? -1);
  if (m?.kind === 'stream') return { kind: 'member', id: bufToUint(m.v) };
  const g = e.data.get(fieldId(table, '$SELECTOR_GROUP_ID') ?? -1);
  if (g?.kind === 'stream') return { kind: 'group', id: bufToUint(g.v) };
  return undefined;
}

export const keyUint = (key: Map<number, Buffer>): number => bufToUint(key.values().next().value ?? Buffer.alloc(0));

function checkReferences(schema: Schema, state: State, table: TableSpec, e: Entry, where: string): void {
  if (table.table_type === 'Selector') {
    const ap = relatedTable(schema, table, 'Action');
    const members = groupMembers(table, e);
    const ids = e.data.get(fieldId(table, '$ACTION_MEMBER_ID') ?? -1);
    const st = e.data.get(fieldId(table, '$ACTION_MEMBER_STATUS') ?? -1);
    if (st?.kind === 'bools' && ids?.kind === 'ints' && st.v.length !== ids.v.length) {
      throw modelError(
        Code.INVALID_ARGUMENT,
        `${where}: $ACTION_MEMBER_STATUS has ${st.v.length} values for ${ids.v.length} members`,
      );
    }
    const max = e.data.get(fieldId(table, '$MAX_GROUP_SIZE') ?? -1);
    const dflt = Number(table.data.find((d) => d.name === '$MAX_GROUP_SIZE')?.type.default_value ?? 0);
    const maxSize = max?.kind === 'stream' ? bufToUint(max.v) : dflt;
    if (members.length > maxSize)
      throw modelError(Code.INVALID_ARGUMENT, `${where}: ${members.length} members exceed $MAX_GROUP_SIZE ${maxSize}`);
    for (const { member } of members) {
      // BfRtSelectorTable::tableEntryAdd: a member that does not exist is BF_INVALID_ARG.
      if (!ap || !state.get(ap.id)?.has(keyString(uintKey(ap, member)))) {
        throw modelError(
          Code.INVALID_ARGUMENT,
          `${where}: member ${member} does not exist in ${ap?.name ?? 'the action profile'}`,
        );
      }
    }
  }
  if (table.table_type === 'MatchAction_Indirect_Selector') {
    const target = indirectTarget(table, e);
    if (!target) throw modelError(Code.INVALID_ARGUMENT, `${where}: needs $ACTION_MEMBER_ID or $SELECTOR_GROUP_ID`);
    const ref = relatedTable(schema, table, target.kind === 'member' ? 'Action' : 'Selector');
    // getActionState: a missing member or group is BF_OBJECT_NOT_FOUND.
    if (!ref || !state.get(ref.id)?.has(keyString(uintKey(ref, target.id)))) {
      throw modelError(
        Code.NOT_FOUND,
        `${where}: ${target.kind} ${target.id} does not exist in ${ref?.name ?? 'the referenced table'}`,
      );
    }
  }
}

function checkNotReferenced(schema: Schema, state: State, table: TableSpec, key: Map<number, Buffer>, where: string): void {
  if (table.table_type !== 'Action' && table.table_type !== 'Selector') return;
  const id = keyUint(key);
  for (const user of schema.tables.filter((t) => t.depends_on.includes(table.id))) {
    for (const e of state.get(user.id)?.values() ?? []) {
      const inGroup =
        user.table_type === 'Selector' && table.table_type === 'Action' && groupMembers(user, e).some((m) => m.member === id);
      const t = user.table_type === 'MatchAction_Indirect_Selector' ? indirectTarget(user, e) : undefined;
      const direct = t !== undefined && t.id === id && (t.kind === 'member') === (table.table_type === 'Action');
      if (inGroup || direct) {
        // BF_ENTRY_REFERENCES_EXIST, which to_grpc_status maps to ALREADY_EXISTS.
        throw modelError(Code.ALREADY_EXISTS, `${where}: still referenced by ${user.name} entry ${describeKey(user, e.key)}`);
      }
    }
  }
}

export interface UpdateOpts {
  /** `ignore_not_found` client metadata: a DELETE of a missing entry succeeds (reported as code NOT_FOUND) */
  ignoreNotFound?: boolean;
}
export interface UpdateResult {
  table: TableSpec;
  key: string;
  /** INSERT_OR_MODIFY found the entry: switchd adds Error{canonical_code OK, code ALREADY_EXISTS} to the response */
  existed?: boolean;
  /** DELETE of a missing entry under ignore_not_found */
  notFound?: boolean;
}

/** A PortCfg modify takes any subset of the data fields (BfRtPortCfgTable::tableEntryMod_internal
 * applies only the fields present); the other tables replace the whole action data. */
function modifiedData(table: TableSpec, old: Entry, raw: WireTableEntry['data']): { actionId: number; data: Map<number, Value> } {
  if (table.table_type !== 'PortConfigure') return decodeData(table, raw, false);
  const { data } = decodeData(table, raw, true);
  return { actionId: 0, data: new Map([...old.data, ...data]) };
}

/** BfRtPortCfgTable::tableEntryAdd needs $SPEED and $FEC (BF_INVALID_ARG without), whatever bf-rt.json's mandatory flags say. */
function checkPortAdd(table: TableSpec, data: Map<number, Value>, where: string): void {
  if (table.table_type !== 'PortConfigure') return;
  const missing = ['$SPEED', '$FEC'].filter((n) => !data.has(fieldId(table, n) ?? -1));
  if (missing.length) throw modelError(Code.INVALID_ARGUMENT, `${where}: adding a port needs ${missing.join(' and ')}`);
}

/** Table types whose entries the model keeps; the others are in the schema for completeness. */
const MODELLED = ['MatchAction_Direct', 'MatchAction_Indirect_Selector', 'Action', 'Selector', 'PortConfigure', 'PortMetadata'];
const WHY_NOT: Record<string, string> = {
  SelectorGetMember: 'the member a hash value selects is computed by the data plane (nftables), not looked up',
  PortHdlInfo: 'the model has no front-panel connectors: its ports are the dev ports given by --port',
  PortFpIdxInfo: 'the model has no front-panel indices: its ports are the dev ports given by --port',
  PortStrInfo: 'the model has no front-panel port names: its ports are the dev ports given by --port',
};
export function modelledTable(schema: Schema, id: number): TableSpec {
  const table = schema.byId.get(id);
  if (!table) throw modelError(Code.NOT_FOUND, `no table with id ${id}`);
  if (!MODELLED.includes(table.table_type)) {
    throw modelError(
      Code.UNIMPLEMENTED,
      `table ${table.name}: ${table.table_type} tables are not modelled (${WHY_NOT[table.table_type] ?? 'not used by the load balancer'})`,
    );
  }
  return table;
}

/** Applies one update to `state` (in place) or throws a ModelError naming table, key and reason. */
export function applyUpdate(
  schema: Schema,
  state: State,
  type: string,
  raw: WireTableEntry,
  opts: UpdateOpts = {},
): UpdateResult {
  const table = modelledTable(schema, raw.table_id);
  if (raw.is_default_entry) throw new Error('default entries are written through defaults.ts');
  const entries = state.get(table.id)!;
  // write_entry builds a key only from `key`: an entry given by handle has none, so INSERT/MODIFY
  // fail ("Table key cannot be empty") and DELETE clears the table, as on switchd.
  const key = raw.value === 'handle_id' ? new Map<number, Buffer>() : decodeKey(table, raw.key);
  const where = `table ${table.name} key ${describeKey(table, key)}`;

  if (type === 'DELETE' && key.size === 0) {
    for (const e of [...entries.values()]) {
      checkNotReferenced(schema, state, table, e.key, `${where}: delete of ${describeKey(table, e.key)}`);
      entries.delete(keyString(e.key));
    }
    return { table, key: '(all)' };
  }
  if (type === 'UNSPECIFIED') throw modelError(Code.INVALID_ARGUMENT, `${where}: Unspecified update type`);
  if (type === 'MODIFY_INC' || type === 'RESET') {
    throw modelError(
      Code.UNIMPLEMENTED,
      `${where}: update type ${type} is not modelled (INSERT, MODIFY, DELETE, INSERT_OR_MODIFY are)`,
    );
  }
  if (key.size === 0) throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: Table key cannot be empty`);
  requireFullKey(table, key);
  const ks = keyString(key);
  const old = entries.get(ks);
  switch (type) {
    case 'INSERT':
    case 'MODIFY':
    case 'INSERT_OR_MODIFY': {
      if (type === 'INSERT' && old) throw modelError(Code.ALREADY_EXISTS, `${where}: entry already exists`);
      if (type === 'MODIFY' && !old) throw modelError(Code.NOT_FOUND, `${where}: entry not found`);
      // pipe_mgr answers BF_NO_SPACE (RESOURCE_EXHAUSTED) when the table is full.
      if (!old && table.size > 0 && entries.size >= table.size) {
        throw modelError(Code.RESOURCE_EXHAUSTED, `${where}: table is full (size ${table.size})`);
      }
      const { actionId, data } =
        old && type !== 'INSERT' ? modifiedData(table, old, raw.data) : decodeData(table, raw.data, false);
      if (!old) checkPortAdd(table, data, where);
      const e: Entry = { key, actionId, data, handle: old?.handle ?? nextHandle++ };
      checkReferences(schema, state, table, e, where);
      entries.set(ks, e);
      return { table, key: describeKey(table, key), existed: type === 'INSERT_OR_MODIFY' && !!old };
    }
    case 'DELETE':
      if (!old) {
        if (opts.ignoreNotFound) return { table, key: describeKey(table, key), notFound: true };
        throw modelError(Code.NOT_FOUND, `${where}: entry not found`);
      }
      checkNotReferenced(schema, state, table, key, where);
      entries.delete(ks);
      return { table, key: describeKey(table, key) };
    default:
      throw modelError(Code.INVALID_ARGUMENT, `${where}: Invalid update type ${type}`);
  }
}

/** Entries matching a read request entity: all of the table, or the one with that key. */
export function readEntries(schema: Schema, state: State, raw: WireTableEntry): { table: TableSpec; entries: Entry[] } {
  const table = modelledTable(schema, raw.table_id);
  const entries = state.get(table.id)!;
  if (raw.value === 'handle_id') {
    const e = [...entries.values()].find((x) => x.handle === raw.handle_id);
    if (!e) throw modelError(Code.NOT_FOUND, `table ${table.name}: no entry with handle ${raw.handle_id}`);
    return { table, entries: [e] };
  }
  const key = decodeKey(table, raw.key);
  if (key.size === 0) return { table, entries: [...entries.values()] };
  requireFullKey(table, key);
  const e = entries.get(keyString(key));
  if (!e) throw modelError(Code.NOT_FOUND, `table ${table.name} key ${describeKey(table, key)}: entry not found`);
  return { table, entries: [e] };
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
