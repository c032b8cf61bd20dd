// One Write RPC as switchd runs it (bf_rt_server_impl.cpp BfRuntimeServiceImpl::Write): the updates
// in order, each with its own result; CONTINUE_ON_ERROR (a batch) keeps every update that worked,
// ROLLBACK_ON_ERROR (a transaction) stops at the first failure and undoes the earlier ones, and
// DATAPLANE_ATOMIC is refused for the whole RPC ("DATAPLANE_ATOMIC isn't implemented", BF_NOT_IMPLEMENTED).
import { status as Code } from '@grpc/grpc-js';
import type { Schema, TableSpec } from './schema.ts';
import { type ModelError, type State, type WireTableEntry, applyUpdate, copyState, keyUint, modelError } from './tables.ts';
import { type Defaults, writeDefault } from './defaults.ts';
import { checkPortKnown } from './dataplane.ts';

/** Everything a Write can change; copied per update so a failed one leaves no trace. */
export interface Tables {
  state: State;
  defaults: Defaults;
  /** table id → EntryScope attribute as last written */
  entryScope: Map<number, object>;
  /** client id → port status change notifications enabled on $PORT */
  portNotify: Map<number, boolean>;
}
export const copyTables = (t: Tables): Tables => ({
  state: copyState(t.state),
  defaults: new Map(t.defaults),
  entryScope: new Map(t.entryScope),
  portNotify: new Map(t.portNotify),
});

export interface WriteCtx {
  schema: Schema;
  clientId: number;
  ports: Map<number, string>;
  /** Subscribe asked for port status change notifications (switchd checks this before the attribute) */
  portNotificationsSubscribed: boolean;
  ignoreNotFound: boolean;
}

export interface UpdateOutcome {
  error?: ModelError;
  op: string /** extra WriteResponse.status entry */;
  response?: object;
}
export interface BatchResult {
  tables: Tables;
  outcomes: UpdateOutcome[];
  changed: boolean;
}

const ATTRIBUTES = [
  'idle_table',
  'entry_scope',
  'dyn_key_mask',
  'dyn_hashing',
  'byte_count_adj',
  'port_status_notify',
  'intvl_ms',
  'pre_device_config',
  'selector_update_notify',
];

export function tableOf(schema: Schema, id: number, what = 'Table not found.'): TableSpec {
  const t = schema.byId.get(id);
  if (!t) throw modelError(Code.NOT_FOUND, `${what} (no table with id ${id})`);
  return t;
}

function writeAttribute(ctx: WriteCtx, tables: Tables, raw: any): string {
  const table = tableOf(ctx.schema, raw.table_id);
  const which = raw.attribute as string | undefined;
  if (!which || !ATTRIBUTES.includes(which))
    throw modelError(Code.INVALID_ARGUMENT, `table ${table.name}: Invalid Attribute Type.`);
  if (which === 'entry_scope' && table.attributes.includes('EntryScope')) {
    tables.entryScope.set(table.id, raw.entry_scope);
    return `attribute entry_scope table=${table.name}`;
  }
  if (which === 'port_status_notify' && table.table_type === 'PortConfigure') {
    if (!ctx.portNotificationsSubscribed) {
      throw modelError(
        Code.INVALID_ARGUMENT,
        `table ${table.name}: Port status change notifications are not enabled for client ${ctx.clientId} (Subscribe with enable_port_status_change_notifications)`,
      );
    }
    tables.portNotify.set(ctx.clientId, !!raw.port_status_notify?.enable);
    return `attribute port_status_notify=${!!raw.port_status_notify?.enable} table=${table.name}`;
  }
  // attributeAllocate answers BF_NOT_SUPPORTED for an attribute the table does not have.
  throw modelError(
    Code.UNIMPLEMENTED,
    `table ${table.name}: attribute ${which} is not modelled for a ${table.table_type} table (modelled: entry_scope on match tables, port_status_notify on $PORT)`,
  );
}

function applyOne(ctx: WriteCtx, tables: Tables, u: any): UpdateOutcome {
  const kind = u.entity?.entity as string | undefined;
  if (kind === 'table_entry' || (!kind && u.type === 'DELETE')) {
    // No entity with DELETE is write_entry on an empty TableEntry: table id 0, not found.
    const entry = (u.entity?.table_entry ?? { table_id: 0 }) as WireTableEntry;
    if (entry.is_default_entry) {
      const { table, key } = writeDefault(ctx.schema, tables.defaults, u.type, entry);
      return { op: `${u.type} table=${table.name} key=${key}` };
    }
    const r = applyUpdate(ctx.schema, tables.state, u.type, entry, { ignoreNotFound: ctx.ignoreNotFound });
    if (r.table.table_type === 'PortConfigure') {
      for (const e of tables.state.get(r.table.id)!.values()) {
        const bad = checkPortKnown(ctx.ports, keyUint(e.key));
        if (bad) throw modelError(Code.INVALID_ARGUMENT, `table ${r.table.name}: ${bad}`);
      }
    }
    const op = `${u.type} table=${r.table.name} key=${r.key}`;
    if (r.existed)
      return {
        op,
        response: { canonical_code: 0, code: Code.ALREADY_EXISTS, message: 'Entry aleady exists, perform MODIFY', space: '' },
      };
    if (r.notFound)
      return {
        op,
        response: { canonical_code: 0, code: Code.NOT_FOUND, message: 'entry not found (ignore_not_found)', space: '' },
      };
    return { op };
  }
  if (kind === 'table_usage') throw modelError(Code.UNIMPLEMENTED, 'Write operation not available on TableUsage');
  if (kind === 'table_attribute') return { op: writeAttribute(ctx, tables, u.entity.table_attribute) };
  if (kind === 'table_operation') {
    const t = tableOf(ctx.schema, u.entity.table_operation.table_id);
    throw modelError(
      Code.UNIMPLEMENTED,
      `table ${t.name}: Operation not supported (${u.entity.table_operation.table_operations_type || 'no type'}: the load balancer has no counters, registers or idle timers to sync)`,
    );
  }
  throw modelError(Code.UNIMPLEMENTED, `Invalid update. (${kind ?? 'no entity'} cannot be written)`);
}

/** Runs the updates on a copy of `current`; the caller commits `tables` once the data plane took it. */
export function runBatch(ctx: WriteCtx, current: Tables, updates: any[], atomicity: string): BatchResult {
  let tables = current;
  const outcomes: UpdateOutcome[] = [];
  let changed = false;
  for (const u of updates) {
    const next = copyTables(tables);
    try {
      outcomes.push(applyOne(ctx, next, u));
      tables = next;
      changed = true;
    } catch (e: any) {
      const error: ModelError = typeof e.code === 'number' ? e : modelError(Code.INTERNAL, e.message);
      outcomes.push({ error, op: `${u.type} (failed: ${Code[error.code]})` });
      if (atomicity === 'ROLLBACK_ON_ERROR') return { tables: current, outcomes, changed: false };
    }
  }
  return { tables, outcomes, changed };
}
