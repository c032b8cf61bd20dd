// Row building of the collector (pure): which scrape fills which column, and how gaps look.
import { describe, expect, it } from 'vitest';
import { buildRow, metricsUrl } from '../experiments/workload/collector.ts';
import { CSV_COLUMNS, formatRow, ORIGINAL_COLUMN_COUNT } from '../experiments/workload/columns.ts';
import type { Sample } from '../experiments/workload/promtext.ts';

const S = (name: string, value: number): Sample => ({ name, labels: {}, value });
const srv = [
  S('stream_connected_clients', 4),
  S('stream_memory_bytes', 52 * 1024 * 1024),
  S('stream_cpu_percent', 2.5),
  S('stream_quiesced', 1),
];
const lg = [
  S('loadgen_connected_clients', 4),
  S('loadgen_rtt_p99_ms', NaN),
  S('loadgen_frames_lost', 0),
  S('loadgen_last_frame_timestamp_ms', 9_000),
];

describe('collector rows', () => {
  it('maps both scrapes into the columns; NaN (no RTT sample this interval) is an empty field', () => {
    const row = buildRow(10_000, 8_000, srv, lg, true);
    expect(row).toMatchObject({
      elapsed_s: 2,
      connected_clients: 4,
      memory_mb: 52,
      cpu_percent: 2.5,
      server_quiesced: 1,
      lg_connected_clients: 4,
      frames_lost: 0,
      last_frame_age_ms: 1000,
      migration_event: 1,
      server_scrape_ok: 1,
      loadgen_scrape_ok: 1,
    });
    const fields = formatRow(row).split(',');
    expect(fields).toHaveLength(CSV_COLUMNS.length);
    expect(fields[CSV_COLUMNS.indexOf('ws_rtt_p99_ms')]).toBe('');
    expect(fields[CSV_COLUMNS.indexOf('timestamp')]).toBe(new Date(10_000).toISOString());
  });

  it('a failed scrape leaves every column of that endpoint empty and flags it', () => {
    const fields = formatRow(buildRow(10_000, 8_000, undefined, lg, false)).split(',');
    const at = (c: (typeof CSV_COLUMNS)[number]) => fields[CSV_COLUMNS.indexOf(c)];
    for (const c of [
      'connected_clients',
      'total_clients',
      'bytes_sent',
      'uptime_s',
      'cpu_percent',
      'memory_mb',
      'server_quiesced',
      'frames_sent',
    ] as const)
      expect(at(c)).toBe('');
    expect(at('server_scrape_ok')).toBe('0');
    expect(at('lg_connected_clients')).toBe('4');
    expect(at('migration_event')).toBe('0');
  });

  it('keeps the original 19 columns first', () => {
    expect(CSV_COLUMNS.slice(0, ORIGINAL_COLUMN_COUNT).at(-1)).toBe('migration_event');
    expect(new Set(CSV_COLUMNS).size).toBe(CSV_COLUMNS.length);
  });

  it('metrics URLs default to /metrics and reject junk', () => {
    expect(metricsUrl('http://127.0.0.1:19090', '--loadgen')).toBe('http://127.0.0.1:19090/metrics');
    expect(metricsUrl('127.0.0.1:18081', '--server')).toBe('http://127.0.0.1:18081/metrics');
    expect(() => metricsUrl('http://[bad', '--server')).toThrow(/--server "http:\/\/\[bad" is not a URL/);
  });
});
