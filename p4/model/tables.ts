// Table state of the switch model and the BF Runtime write/read semantics of switchd:
// validation against the schema (entry.ts), duplicate/missing entries, and the referential integrity
// of action profile members, selector groups and the indirect match table (refs.ts). Every error carries
// the gRPC code switchd's to_grpc_status (bf_rt_server_impl.hpp) gives the bf_status the SDE
// returns for it: BF_INVALID_ARG → INVALID_ARGUMENT, BF_OBJECT_NOT_FOUND/BF_TABLE_NOT_FOUND →
// NOT_FOUND, BF_ALREADY_EXISTS/BF_ENTRY_REFERENCES_EXIST → ALREADY_EXISTS, BF_NOT_SUPPORTED/
// BF_NOT_IMPLEMENTED → UNIMPLEMENTED.
import { status as Code } from '@grpc/grpc-js';
import type { Schema, TableSpec } from './schema.ts';
import {
  type Entry,
  type State,
  type Value,
  type WireTableEntry,
  decodeData,
  decodeKey,
  describeKey,
  keyString,
  modelError,
  requireFullKey,
} from './entry.ts';
import { checkNotReferenced, checkReferences, fieldId } from './refs.ts';

// The entry and reference modules' names, importable from here as before the split.
export {
  type Entry,
  type ModelError,
  type State,
  type Value,
  type WireTableEntry,
  copyState,
  decodeData,
  decodeKey,
  emptyState,
  encodeEntry,
  keyString,
  keyUint,
  modelError,
} from './entry.ts';
export { groupMembers, indirectTarget } from './refs.ts';

let nextHandle = 1;

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
