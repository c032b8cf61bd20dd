// The BF Runtime schema (bf-rt.json) as the model uses it: tables, key fields, actions and
// data fields by id and by name, with the `pipe.` prefix kept or stripped.
import { readFileSync } from 'node:fs';

export type NameMode = 'pipe' | 'plain';

export interface FieldType {
  type: 'bytes' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int32' | 'bool' | 'string' | 'float';
  width?: number;
  choices?: string[];
  default_value?: unknown;
}
export interface KeyFieldSpec {
  id: number;
  name: string;
  match_type: string;
  mandatory: boolean;
  type: FieldType;
}
export interface DataFieldSpec {
  id: number;
  name: string;
  repeated: boolean;
  mandatory: boolean;
  read_only?: boolean;
  type: FieldType;
  oneofGroup?: number;
}
export interface ActionSpec {
  id: number;
  name: string;
  action_scope?: string;
  data: DataFieldSpec[];
}
export interface TableSpec {
  id: number;
  name: string;
  table_type: string;
  size: number;
  depends_on: number[];
  key: KeyFieldSpec[];
  actions: ActionSpec[];
  data: DataFieldSpec[];
  has_const_default_action?: boolean;
  attributes: string[];
}
export interface Schema {
  tables: TableSpec[];
  byId: Map<number, TableSpec>;
  byName: Map<string, TableSpec>;
}

/** Bytes a value of this field type takes on the wire (big-endian, ceil(width/8)). */
const INT_BITS: Record<string, number> = { uint8: 8, uint16: 16, uint32: 32, int32: 32, uint64: 64 };
export function byteWidth(t: FieldType): number {
  if (INT_BITS[t.type]) return INT_BITS[t.type] / 8;
  if (t.type === 'bytes' && t.width) return Math.ceil(t.width / 8);
  throw new Error(`field type ${JSON.stringify(t)} has no byte width`);
}
export const bitWidth = (t: FieldType): number => INT_BITS[t.type] ?? t.width ?? 0;

function dataFields(raw: any[]): DataFieldSpec[] {
  const out: DataFieldSpec[] = [];
  raw.forEach((d, i) => {
    if (d.singleton) out.push({ ...pick(d.singleton), mandatory: !!d.mandatory, read_only: !!d.read_only });
    else if (d.oneof)
      for (const o of d.oneof) out.push({ ...pick(o), mandatory: false, read_only: !!d.read_only, oneofGroup: i });
    else if (d.id !== undefined) out.push(pick(d));
  });
  return out;
}
const pick = (f: any): DataFieldSpec => ({
  id: f.id,
  name: f.name,
  repeated: !!f.repeated,
  mandatory: !!f.mandatory,
  type: f.type,
});

/** Parses bf-rt.json text; `plain` strips the `pipe.` prefix from table names (as the SDE model does). */
export function parseSchema(texts: string[], names: NameMode): Schema {
  const tables: TableSpec[] = [];
  for (const text of texts) {
    const doc = JSON.parse(text);
    if (doc.schema_version !== '1.0.0') throw new Error(`bf-rt.json schema_version ${doc.schema_version}: expected 1.0.0`);
    for (const t of doc.tables) {
      tables.push({
        id: t.id,
        name: names === 'plain' ? String(t.name).replace(/^pipe\./, '') : t.name,
        table_type: t.table_type,
        size: t.size,
        depends_on: t.depends_on ?? [],
        key: (t.key ?? []).map((k: any) => ({
          id: k.id,
          name: k.name,
          match_type: k.match_type,
          mandatory: !!k.mandatory,
          type: k.type,
        })),
        actions: (t.action_specs ?? []).map((a: any) => ({
          id: a.id,
          name: a.name,
          action_scope: a.action_scope,
          data: dataFields(a.data ?? []),
        })),
        data: dataFields(t.data ?? []),
        has_const_default_action: t.has_const_default_action,
        attributes: t.attributes ?? [],
      });
    }
  }
  return { tables, byId: new Map(tables.map((t) => [t.id, t])), byName: new Map(tables.map((t) => [t.name, t])) };
}

/** The bf-rt.json text as served to clients, with names in the chosen mode. */
export function renameSchemaText(text: string, names: NameMode): string {
  if (names === 'pipe') return text;
  const doc = JSON.parse(text);
  for (const t of doc.tables) t.name = String(t.name).replace(/^pipe\./, '');
  return JSON.stringify(doc, null, 2);
}

export const loadText = (path: string): string => readFileSync(path, 'utf8');

/** Finds a table by the part of its name after the pipe/control prefix, e.g. `node_selector`. */
export function tableBySuffix(schema: Schema, suffix: string): TableSpec | undefined {
  return schema.tables.find((t) => t.name === suffix || t.name.endsWith(`.${suffix}`));
}
