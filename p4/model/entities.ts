// Read of each entity kind as switchd answers it (bf_rt_server_impl.cpp read_entry, read_usage,
// read_attribute, read_id, read_handle): a table read without key returns the entries and then
// the table's default entry; is_default_entry reads the default alone.
import { status as Code } from '@grpc/grpc-js';
import type { Schema, TableSpec } from './schema.ts';
import {
  type Entry,
  type Value,
  type WireTableEntry,
  decodeKey,
  encodeEntry,
  keyString,
  keyUint,
  modelError,
  modelledTable,
  readEntries,
} from './tables.ts';
import { hasDefaultEntry } from './defaults.ts';
import { type Tables, tableOf } from './write.ts';

/** Thrown for what switchd refuses for the whole Read (check_and_return), not per entity. */
export class RpcLevelError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const ALL = { predef: 'ALL', args: 0 };

/** Link state of a dev port as the model's interfaces show it (undefined: not known, e.g. dry). */
export type PortUp = (port: number) => boolean | undefined;

/**
 * A $PORT entry as switchd reads it back: every field, the ones never written at their schema
 * default, plus the read-only state ($PORT_UP: enabled and the link up; $IS_VALID; $IS_INTERNAL).
 */
function portEntry(table: TableSpec, e: Entry, portUp: PortUp): Entry {
  const data = new Map<number, Value>();
  const byName = (n: string) => table.data.find((d) => d.name === n);
  for (const f of table.data) {
    const d = f.type.default_value;
    if (d === undefined || f.read_only) continue;
    if (f.type.type === 'bool') data.set(f.id, { kind: 'bool', v: !!d });
    else if (f.type.type === 'string') data.set(f.id, { kind: 'str', v: String(d) });
    else if (f.type.type === 'float') data.set(f.id, { kind: 'float', v: Number(d) });
    else {
      const b = Buffer.alloc(f.type.type === 'uint64' ? 8 : f.type.type === 'uint16' ? 2 : 4);
      if (b.length === 8) b.writeBigInt64BE(BigInt(Number(d)));
      else b.writeIntBE(Number(d), 0, b.length);
      data.set(f.id, { kind: 'stream', v: b });
    }
  }
  for (const [id, v] of e.data) data.set(id, v);
  const enabled = (() => {
    const v = data.get(byName('$PORT_ENABLE')?.id ?? -1);
    return v?.kind === 'bool' && v.v;
  })();
  const set = (n: string, v: boolean) => {
    const f = byName(n);
    if (f) data.set(f.id, { kind: 'bool', v });
  };
  set('$PORT_UP', enabled && (portUp(keyUint(e.key)) ?? true));
  set('$IS_VALID', true);
  set('$IS_INTERNAL', false);
  return { ...e, data };
}

function encodeDefault(table: TableSpec, tables: Tables): object[] {
  const d = hasDefaultEntry(table) ? tables.defaults.get(table.id) : undefined;
  if (!d) return [];
  const e = encodeEntry(table, d) as any;
  return [{ table_entry: { table_id: table.id, is_default_entry: true, data: e.data } }];
}

/** Table names as BfRtInfo resolves them: the full name or a unique dotted suffix. */
export function tableByName(schema: Schema, name: string): TableSpec | undefined {
  const exact = schema.byName.get(name);
  if (exact) return exact;
  const hits = schema.tables.filter((t) => t.name.endsWith(`.${name}`));
  return hits.length === 1 ? hits[0] : undefined;
}

function readId(schema: Schema, raw: any): object[] {
  if (raw.object !== 'table_object') {
    if (raw.object === 'learn_object')
      throw modelError(Code.NOT_FOUND, `Learn Obj not found. (the load balancer has no learn filters)`);
    throw modelError(Code.INVALID_ARGUMENT, 'Wrong Option for ID get');
  }
  const o = raw.table_object;
  const table = tableByName(schema, o.table_name);
  if (!table) throw modelError(Code.NOT_FOUND, `Table not found. (${JSON.stringify(o.table_name)})`);
  let id: number | undefined = table.id;
  if (o.names === 'action_name') {
    const a = table.actions.find((x) => x.name === o.action_name.action || x.name.endsWith(`.${o.action_name.action}`));
    if (!a)
      throw modelError(
        Code.NOT_FOUND,
        `Id get faild. (table ${table.name} has no action ${JSON.stringify(o.action_name.action)})`,
      );
    id = a.id;
  } else if (o.names === 'key_field_name') {
    // switchd ignores the status of the key/data field look-ups: an unknown name answers id 0.
    id = table.key.find((k) => k.name === o.key_field_name.field)?.id ?? 0;
  } else if (o.names === 'data_field_name') {
    const { action, field } = o.data_field_name;
    const fields = action
      ? (table.actions.find((x) => x.name === action || x.name.endsWith(`.${action}`))?.data ?? [])
      : table.data;
    id = fields.find((f) => f.name === field)?.id ?? 0;
  }
  return [{ object_id: { ...raw, id } }];
}

function readAttribute(schema: Schema, tables: Tables, clientId: number, raw: any): object[] {
  const table = tableOf(schema, raw.table_id);
  const which = raw.attribute as string | undefined;
  if (which === 'entry_scope' && table.attributes.includes('EntryScope')) {
    const scope = tables.entryScope.get(table.id) ?? { gress_scope: ALL, pipe_scope: ALL, prsr_scope: ALL };
    return [{ table_attribute: { table_id: table.id, entry_scope: scope } }];
  }
  if (which === 'port_status_notify' && table.table_type === 'PortConfigure') {
    return [{ table_attribute: { table_id: table.id, port_status_notify: { enable: !!tables.portNotify.get(clientId) } } }];
  }
  if (!which) throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: Invalid Attribute Type.`);
  throw modelError(Code.UNIMPLEMENTED, `table ${table.name}: attribute ${which} is not modelled for a ${table.table_type} table`);
}

/** The entities a Read of one request entity returns, or throws its per-entity error. */
export function readEntity(
  schema: Schema,
  tables: Tables,
  clientId: number,
  ent: any,
  portUp: PortUp = () => undefined,
): object[] {
  switch (ent.entity) {
    case 'table_entry': {
      const raw = ent.table_entry as WireTableEntry;
      const table = modelledTable(schema, raw.table_id);
      if (!raw.value && raw.is_default_entry) return encodeDefault(table, tables);
      const { entries } = readEntries(schema, tables.state, raw);
      const shown = table.table_type === 'PortConfigure' ? entries.map((e) => portEntry(table, e, portUp)) : entries;
      const out = shown.map((e) => ({ table_entry: encodeEntry(table, e) }));
      return raw.value ? out : [...out, ...encodeDefault(table, tables)];
    }
    case 'table_usage': {
      const table = tableOf(schema, ent.table_usage.table_id, 'Unable to find table');
      return [{ table_usage: { table_id: table.id, usage: tables.state.get(table.id)?.size ?? 0 } }];
    }
    case 'table_attribute':
      return readAttribute(schema, tables, clientId, ent.table_attribute);
    case 'table_operation':
      throw new RpcLevelError(Code.UNIMPLEMENTED, 'Read operation not available on TableOperation');
    case 'object_id':
      return readId(schema, ent.object_id);
    case 'handle': {
      const h = ent.handle;
      if (h.value !== 'key') throw modelError(Code.INVALID_ARGUMENT, 'Invalid key is mandatory for get handle operation.');
      const table = tableOf(schema, h.table_id);
      const e = tables.state.get(table.id)?.get(keyString(decodeKey(table, h.key)));
      if (!e) throw modelError(Code.NOT_FOUND, `Entry not found in table:${table.name}`);
      return [{ handle: { table_id: table.id, handle_id: e.handle ?? 0 } }];
    }
    default:
      throw modelError(Code.INVALID_ARGUMENT, 'Invalid Read entity received');
  }
}
