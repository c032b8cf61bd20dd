// Parser for the Prometheus text exposition format (what prom-client's registry.metrics() emits),
// and the one scrape (GET, 200 or an error) the collector, the workload phase and the bench share.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?\s*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;

function parseValue(v: string): number {
  // prom-client writes "Nan"; the format says NaN: accept any case.
  const l = v.toLowerCase();
  if (l === '+inf' || l === 'inf') return Infinity;
  if (l === '-inf') return -Infinity;
  if (l === 'nan') return NaN;
  const n = Number(v);
  if (Number.isNaN(n)) throw new Error(`bad sample value "${v}"`);
  return n;
}

export function parsePromText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`prometheus text line ${i + 1} is malformed: ${line.slice(0, 120)}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    out.push({ name: m[1], labels, value: parseValue(m[4]) });
  }
  return out;
}

/** The value of the first sample named `name` whose labels include `labels`; undefined if absent. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

/** GETs a /metrics URL and parses it; throws on a timeout, a refused connection or a non-200 answer. */
export async function scrapeMetrics(url: string, timeoutMs: number): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return parsePromText(await res.text());
}
