// The columns of metrics.csv, in order: the original's 19 (same names, same order, so the original
// plotting scripts still read it), then the columns this framework adds.
export const CSV_COLUMNS = [
  // --- original ---
  'timestamp',
  'timestamp_unix_milli',
  'elapsed_s',
  'connected_clients',
  'total_clients',
  'bytes_sent',
  'bytes_received',
  'uptime_s',
  'lg_connected_clients',
  'ws_rtt_avg_ms',
  'ws_rtt_p50_ms',
  'ws_rtt_p95_ms',
  'ws_rtt_p99_ms',
  'ws_rtt_max_ms',
  'ws_jitter_ms',
  'connection_drops',
  'cpu_percent',
  'memory_mb',
  'migration_event',
  // --- new ---
  'frames_received',
  'frames_lost',
  'frames_duplicated',
  'frames_reordered',
  'pings_sent',
  'pings_unanswered',
  'server_quiesced',
  'last_frame_age_ms',
  'frames_sent',
  'lg_bytes_received',
  'ws_rtt_samples',
  'pongs_late',
  'server_scrape_ok',
  'loadgen_scrape_ok',
  'rtts_over_cap',
] as const;

export const ORIGINAL_COLUMN_COUNT = 19;

export type Column = (typeof CSV_COLUMNS)[number];
export type Row = Partial<Record<Column, number | string>>;

/** A row of any workload's columns (experiments/workloads/*). */
export type AnyRow = Record<string, number | string | undefined>;

/** One CSV line; a missing or non-finite value is an empty field (no data that second). */
export function formatRow(row: Row | AnyRow, columns: readonly string[] = CSV_COLUMNS): string {
  return columns
    .map((c) => {
      const v = (row as AnyRow)[c];
      if (v === undefined) return '';
      if (typeof v === 'string') return /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
      if (!Number.isFinite(v)) return '';
      return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
    })
    .join(',');
}

export const csvHeader = (columns: readonly string[] = CSV_COLUMNS): string => columns.join(',');
