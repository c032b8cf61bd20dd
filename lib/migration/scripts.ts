// The protocol of the migration's host scripts: each prints `mark NAME NS` lines from the host's
// clock (durations between marks of one host are exact, whatever that clock's offset) and
// `KEY VALUE` lines for what it found. Each SSH command costs a round trip (≈0.1 s here, more on
// a busy machine), so steps that run on one host back to back share one script (steps.ts).

export const mark = (name: string): string => `echo "mark ${name} $(date +%s%N)"`;

export interface ScriptOutput {
  marks: Record<string, bigint>;
  values: Record<string, string>;
  lines: string[];
}

/** Parse `mark NAME NS` and `KEY VALUE` lines. */
export function parseScriptOutput(stdout: string): ScriptOutput {
  const marks: Record<string, bigint> = {};
  const values: Record<string, string> = {};
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const l of lines) {
    const m = l.match(/^mark (\w+) (\d+)$/);
    if (m) {
      marks[m[1]] = BigInt(m[2]);
      continue;
    }
    const kv = l.match(/^([\w-]+) (.*)$/);
    if (kv) values[kv[1]] = kv[2];
    else values[l] = '';
  }
  return { marks, values, lines };
}

/** ms between two marks of the same host. */
export function markMs(o: ScriptOutput, from: string, to: string): number {
  const a = o.marks[from];
  const b = o.marks[to];
  if (a === undefined || b === undefined)
    throw new Error(
      `script output lacks mark ${a === undefined ? from : to} (got: ${Object.keys(o.marks).join(', ') || 'none'})`,
    );
  return Number(b - a) / 1e6;
}

/** markMs, or undefined when a mark is absent (a dry run prints none). */
export function maybeMs(o: ScriptOutput, from: string, to: string): number | undefined {
  return o.marks[from] !== undefined && o.marks[to] !== undefined ? markMs(o, from, to) : undefined;
}

export const nsOfMs = (ms: number): bigint => BigInt(Math.round(ms * 1e6));
