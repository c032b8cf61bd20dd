// What a workload is: one record (no class) telling the phases how to build its server image, run
// and health-check the server, run its client, turn the scrapes into metrics.csv rows, judge a run
// lossless and what quiesce/drain mean for it. Each workload lives in experiments/workloads/<name>/
// and is listed once in experiments/workloads/index.ts.
import type { Config } from '../../lib/config/keys.ts';
import type { Host } from '../../lib/hosts/types.ts';
import type { Sample } from '../workload/promtext.ts';
import type { AnyRow } from '../workload/columns.ts';

export interface ImageOptions {
  /** dist/remote on this machine (bundled programs). */
  dist: string;
  /** Scratch folder on the host (removed afterwards). */
  workDir: string;
  log?: (msg: string) => void;
  dryRun?: boolean;
}

/** How the phases know the server answers: an HTTP 200, or a command on lakewood exiting 0. */
export type HealthCheck = { kind: 'http'; url: string } | { kind: 'command'; what: string; cmd: string };

/** A figure of the workload's own, computed by the analysis from metrics.csv. With `per_migration`
 * the analysis also gives it per migration window: a counter's increase or a column's maximum. */
export interface Figure {
  key: string;
  label: string;
  value: number | null;
  unit?: string;
  per_migration?: { column: string; kind: 'counter' | 'max' };
}

export interface Workload {
  name: string;
  description: string;
  /** Image tag on both servers. */
  image(c: Config): string;
  /** dist/remote entries the workload needs (its server bundle if any, its client). */
  bundles: readonly string[];
  /** Files on lakewood the image is built from besides the tools preflight checks anyway (node):
   * preflight refuses a run whose lakewood lacks one, before anything changes. */
  imageSources?: ReadonlyArray<{ path: string; hint: string }>;
  /** Builds the image unless it is up to date; returns id and source hash. */
  ensureImage(host: Host, image: string, o: ImageOptions): Promise<{ id: string; sourceHash: string; built: boolean }>;
  /** Arguments after the image's entrypoint. */
  serverArgs(c: Config): string[];
  health(c: Config): HealthCheck;
  /** The client program (a dist/remote entry) and its arguments; it serves Prometheus text on
   * 127.0.0.1:LOADGEN_METRICS_PORT on lakewood. */
  client: { bundle: string; args(c: Config): string[]; connectedMetric: string; describe(c: Config): string };
  /** Whether the server exposes its own Prometheus endpoint on H2_IP:METRICS_PORT. */
  serverMetrics: boolean;
  /** Extra collector arguments (empty for the default workload: its command line stays as it was). */
  collectorArgs: string[];
  /** metrics.csv columns, in order, and one row from the scrapes (either may be missing). */
  columns: readonly string[];
  row(now: number, startedAt: number, server: Sample[] | undefined, client: Sample[] | undefined, migration: boolean): AnyRow;
  /** Quiesce before the checkpoint: the signal the server pauses (and resumes) on; undefined = none,
   * the server keeps serving until CRIU freezes it. Drain (socket send queues at 0) is generic. */
  quiesceSignal?: 'USR2';
  /** A cumulative metrics.csv column that rises while clients are served: the analysis's
   * "first data after the switch update" is its first rise. */
  progressColumn: string;
  /** The workload's own figures from a run's metrics rows (null = not measured). */
  figures(rows: ReadonlyArray<{ v: Record<string, number | null> }>): Figure[];
  /** Its own time-series plots in report.html (plots/workload_<name>.svg): metrics.csv column → series label. */
  plots?: ReadonlyArray<{ name: string; title: string; yTitle: string; columns: Record<string, string>; log?: boolean }>;
  /** The lossless check this workload supports, from its figures. */
  lossless(figures: readonly Figure[]): { ok: boolean | null; why: string };
}
