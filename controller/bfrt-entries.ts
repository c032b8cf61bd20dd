// The BF Runtime client's entry codec: named entries (bf-rt.json names, readable values) to the
// wire TableEntry a Write or Read carries, and read-back entries to names again.
import { BfrtError } from './bfrt-errors.ts';
import type { DecodedEntry, EntrySpec } from './bfrt-types.ts';
import { byName, dataField, decodeBytes, decodeDataField, hasName, keyField, type TableInfo } from './schema.ts';

/** A named entry as a wire TableEntry of table `t` (resolved by the caller); bad names are BfrtError 'invalid'. */
export function encodeEntry(t: TableInfo, spec: EntrySpec, withData: boolean): Record<string, unknown> {
  try {
    const entry: Record<string, unknown> = { table_id: t.id };
    if (spec.key) {
      entry.key = {
        fields: Object.entries(spec.key).map(([n, v]) => keyField(byName(t.keys, n, `key field of ${t.name}`), v, t.name)),
      };
    }
    if (withData && (spec.action || spec.data)) {
      const action = spec.action ? byName(t.actions, spec.action, `action of ${t.name}`) : undefined;
      const fields = Object.entries(spec.data ?? {}).map(([n, v]) => {
        const f =
          action && hasName(action.data, n)
            ? byName(action.data, n, `data field of ${action.name}`)
            : byName(t.data, n, `data field of ${t.name}`);
        return dataField(f, v, action ? `${t.name} ${action.name}` : t.name);
      });
      entry.data = { action_id: action?.id ?? 0, fields };
    }
    return entry;
  } catch (e) {
    if (e instanceof BfrtError) throw e;
    throw new BfrtError((e as Error).message, 'invalid');
  }
}

/** A wire TableEntry read back, decoded to names and readable values; unknown ids stay as `#id`. */
export function decodeEntry(tables: TableInfo[], e: any): DecodedEntry {
  const t = tables.find((x) => x.id === e.table_id);
  const out: DecodedEntry = { table: t?.name ?? `#${e.table_id}`, key: {}, data: {} };
  for (const kf of e.key?.fields ?? []) {
    const f = t?.keys.find((k) => k.id === kf.field_id);
    const name = f?.name ?? `#${kf.field_id}`;
    const m = kf[kf.match_type ?? 'exact'] ?? {};
    const raw = m.value ?? m.low;
    out.key[name] = raw ? decodeBytes(raw, f ?? { kind: 'bytes', width: raw.length * 8 }) : null;
  }
  const action = t?.actions.find((a) => a.id === e.data?.action_id);
  if (action) out.action = action.name;
  for (const df of e.data?.fields ?? []) {
    const f = action?.data.find((x) => x.id === df.field_id) ?? t?.data.find((x) => x.id === df.field_id);
    out.data[f?.name ?? `#${df.field_id}`] = decodeDataField(f, df);
  }
  return out;
}
