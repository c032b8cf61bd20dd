// Helpers the workloads' figures() share: a column's largest and last value over a run.
type Rows = ReadonlyArray<{ v: Record<string, number | null> }>;

/** Largest non-empty value of a column; null when it never has one. */
export function columnMax(rows: Rows, col: string): number | null {
  let m: number | null = null;
  for (const r of rows) {
    const x = r.v[col];
    if (x !== null && x !== undefined) m = m === null ? x : Math.max(m, x);
  }
  return m;
}

/** Last non-empty value of a column. */
export function columnLast(rows: Rows, col: string): number | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    const x = rows[i].v[col];
    if (x !== null && x !== undefined) return x;
  }
  return null;
}
