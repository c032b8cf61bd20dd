// Referential integrity of the action profile, the selector groups and the indirect match table,
// as switchd checks it: a group names existing members, an indirect entry an existing member or
// group, and a member or group still referenced cannot be deleted.
import { status as Code } from '@grpc/grpc-js';
import type { Schema, TableSpec } from './schema.ts';
import { type Entry, type State, bufToUint, describeKey, keyString, keyUint, modelError } from './entry.ts';

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

export function checkReferences(schema: Schema, state: State, table: TableSpec, e: Entry, where: string): void {
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

export function checkNotReferenced(
  schema: Schema,
  state: State,
  table: TableSpec,
  key: Map<number, Buffer>,
  where: string,
): void {
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
