// Default entries: the P4 program's default actions, and the Read/Write rules of switchd for them
// (bf_rt_server_impl.cpp write_entry / table_read_default_entry): MODIFY with is_default_entry sets
// the default, DELETE resets it to the program's, INSERT is refused, a key is refused, and tables
// without DEFAULT_ENTRY_GET (action profiles, selectors, $PORT) read none and cannot set one.
import { status as Code } from '@grpc/grpc-js';
import type { Schema, TableSpec } from './schema.ts';
import { type Entry, type Value, type WireTableEntry, decodeData, modelError } from './tables.ts';

/**
 * The default actions declared in p4/load_balancer.p4, by table (the compiler puts them in
 * context.json, not bf-rt.json). test/p4-schema.test.ts checks this against the source.
 * node_selector declares none: p4c gives it NoAction, not const.
 */
export const P4_DEFAULTS: Record<string, { action: string; isConst: boolean }> = {
  forward: { action: 'SwitchIngress.drop', isConst: true },
  arp_forward: { action: 'SwitchIngress.drop', isConst: true },
  client_snat: { action: 'NoAction', isConst: true },
  node_selector: { action: 'NoAction', isConst: false },
};

export type Defaults = Map<number, Entry>;

const shortName = (t: TableSpec) => t.name.split('.').pop() ?? t.name;
/** Match tables have a default entry; the SDE's other table types do not support DEFAULT_ENTRY_GET. */
export const hasDefaultEntry = (t: TableSpec): boolean =>
  t.table_type === 'MatchAction_Direct' || t.table_type === 'MatchAction_Indirect_Selector';

function programDefault(t: TableSpec): Entry {
  const d = P4_DEFAULTS[shortName(t)];
  const action = t.actions.find((a) => a.name === d?.action);
  return { key: new Map(), actionId: action?.id ?? 0, data: new Map() };
}

export const initialDefaults = (schema: Schema): Defaults =>
  new Map(schema.tables.filter(hasDefaultEntry).map((t) => [t.id, programDefault(t)]));

const sameData = (a: Map<number, Value>, b: Map<number, Value>) =>
  a.size === b.size && [...a].every(([id, v]) => JSON.stringify(b.get(id)) === JSON.stringify(v));

/** Applies a default-entry update to `defaults` (in place); returns a description for the log. */
export function writeDefault(
  schema: Schema,
  defaults: Defaults,
  type: string,
  raw: WireTableEntry,
): { table: TableSpec; key: string } {
  const table = schema.byId.get(raw.table_id);
  if (!table) throw modelError(Code.NOT_FOUND, `no table with id ${raw.table_id}`);
  if ((raw.key?.fields ?? []).length)
    throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: Non-empty key for default entry`);
  const where = `table ${table.name} default entry`;
  if (type === 'INSERT')
    throw modelError(Code.UNIMPLEMENTED, `${where}: INSERT of default entry is not supported. Please use MODIFY instead`);
  if (!hasDefaultEntry(table)) throw modelError(Code.UNIMPLEMENTED, `${where}: a ${table.table_type} table has no default entry`);
  const d = P4_DEFAULTS[shortName(table)];
  if (type === 'DELETE') {
    defaults.set(table.id, programDefault(table));
    return { table, key: '(default, reset)' };
  }
  if (type !== 'MODIFY')
    throw modelError(
      Code.UNIMPLEMENTED,
      `${where}: update type ${type} is not supported for a default entry (MODIFY sets, DELETE resets)`,
    );
  if (table.table_type === 'MatchAction_Indirect_Selector') {
    if ((raw.data?.fields ?? []).length === 0) return { table, key: '(default)' };
    throw modelError(
      Code.UNIMPLEMENTED,
      `${where}: a default member or group is not modelled (the model's data plane sends every miss of ${shortName(table)} on unchanged)`,
    );
  }
  const { actionId, data } = decodeData(table, raw.data, false, true);
  const cur = defaults.get(table.id) ?? programDefault(table);
  // pipe_mgr: a const default may be "set" only to the same action and parameters (PIPE_INVALID_ARG otherwise).
  if (d?.isConst && (actionId !== cur.actionId || !sameData(data, cur.data))) {
    const name = table.actions.find((a) => a.id === cur.actionId)?.name ?? d.action;
    throw modelError(Code.INVALID_ARGUMENT, `${where}: ${name} is declared as a const default action`);
  }
  defaults.set(table.id, { key: new Map(), actionId, data });
  return { table, key: '(default)' };
}
