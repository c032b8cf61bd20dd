// The workload registry and interface: WORKLOAD is validated against the registry before anything
// runs, each record's columns and rows agree, stream keeps today's commands and columns, and the
// redis plan builds its own image, runs its own client and never sends the stream's quiesce signal.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KEYS } from '../lib/config/keys.ts';
import { loadConfig } from '../lib/config/load.ts';
import { REMOTE_ENTRIES } from '../lib/hosts/bundle.ts';
import { serverRunCmd } from '../lib/server/infra.ts';
import { quiesceCommand, resumeCommand } from '../lib/migration/podman.ts';
import { WORKLOADS, workloadFor } from '../experiments/workloads/index.ts';
import { CSV_COLUMNS } from '../experiments/workload/columns.ts';
import { buildRow } from '../experiments/workload/collector.ts';
import { REDIS_IMAGE } from '../experiments/workloads/redis/index.ts';
import type { Sample } from '../experiments/workload/promtext.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const cfg = (env: Record<string, string> = {}) => loadConfig({ cwd: repo, env: { ...env } }).config;

describe('workload registry', () => {
  it('WORKLOAD accepts exactly the registered workloads, default stream', () => {
    expect(KEYS.WORKLOAD.type).toEqual({ kind: 'enum', values: Object.keys(WORKLOADS) });
    expect(cfg().WORKLOAD).toBe('stream');
    expect(workloadFor(cfg({ WORKLOAD: 'redis' })).name).toBe('redis');
  });

  it('WORKLOAD=nginx (no such folder) is refused before anything runs, naming the key and the accepted values', () => {
    expect(() => cfg({ WORKLOAD: 'nginx' })).toThrow(/WORKLOAD="nginx" \(from env\): expected one of stream, redis/);
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'experiments/run.ts', '--set', 'WORKLOAD=nginx', '--migrations', '1'],
      {
        cwd: repo,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/WORKLOAD="nginx".*expected one of stream, redis/);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/=== (preflight|testbed|sync)/);
  });

  for (const [name, w] of Object.entries(WORKLOADS)) {
    it(`${name}: name matches its key, columns are unique, rows only use its columns, bundles exist`, () => {
      expect(w.name).toBe(name);
      expect(new Set(w.columns).size).toBe(w.columns.length);
      expect(w.columns.slice(0, 3)).toEqual(['timestamp', 'timestamp_unix_milli', 'elapsed_s']);
      const row = w.row(Date.now(), Date.now() - 1000, [], [], true);
      for (const k of Object.keys(row)) expect(w.columns).toContain(k);
      const outs = REMOTE_ENTRIES.map((e) => e.out);
      for (const b of [...w.bundles, w.client.bundle]) expect(outs).toContain(b);
      expect(w.bundles).toContain(w.client.bundle);
      expect(w.columns).toContain(w.progressColumn);
    });
  }

  it('stream keeps the metrics.csv columns and row builder and the SIGUSR2 quiesce', () => {
    const s = WORKLOADS.stream;
    expect(s.columns).toBe(CSV_COLUMNS);
    expect(s.row).toBe(buildRow);
    expect(s.quiesceSignal).toBe('USR2');
    expect(s.collectorArgs).toEqual([]);
    expect(serverRunCmd(cfg())).toMatch(/ localhost\/p4cf-stream-server --port 8080 --metrics-port 8081 /);
  });
});

describe('redis workload record', () => {
  const c = cfg({ WORKLOAD: 'redis', STATE_MB: '64' });
  const w = workloadFor(c);

  it('runs its own image with persistence off and no quiesce', () => {
    const run = serverRunCmd(c);
    expect(run).toContain(` ${REDIS_IMAGE} --port 8080 `);
    expect(run).toContain("--save '' --appendonly no");
    expect(run).toContain('--ulimit nofile=4096:4096 --ulimit nproc=4096:4096');
    expect(w.quiesceSignal).toBeUndefined();
    expect(quiesceCommand(c)).toBe('echo "quiesce none"');
    expect(resumeCommand(c)).toBe('echo "resume none"');
    expect(quiesceCommand(cfg())).toBe('kill -USR2 "$pid"');
    expect(resumeCommand(cfg())).toBe('kill -USR2 "$pid"');
  });

  it('its client gets the connections, rate, ramp, metrics port and STATE_MB preload', () => {
    expect(w.client.args(c)).toEqual([
      '--host',
      '192.168.12.2',
      '--port',
      '8080',
      '--connections',
      '4',
      '--rate',
      '30',
      '--ramp',
      '200ms',
      '--metrics-port',
      '9090',
      '--metrics-listen',
      '127.0.0.1',
      '--state-mb',
      '64',
    ]);
    expect(w.health(c)).toMatchObject({ kind: 'command' });
  });

  it('maps the client scrape to its columns; figures and the lossless verdict follow the counters', () => {
    const s = (name: string, value: number): Sample => ({ name, labels: {}, value });
    const scrape = [
      s('redis_client_writes_acked_total', 100),
      s('redis_client_lost_writes_total', 0),
      s('redis_client_reconnects_total', 0),
      s('redis_client_stale_reads_total', 0),
      s('redis_client_latency_p99_ms', 2.5),
      s('redis_server_used_memory_bytes', 2 * 1024 * 1024),
    ];
    const row = w.row(2000, 1000, undefined, scrape, false);
    expect(row).toMatchObject({
      redis_writes_acked: 100,
      redis_lost_writes: 0,
      connection_drops: 0,
      memory_mb: 2,
      migration_event: 0,
      loadgen_scrape_ok: 1,
    });
    const rows = (lost: number, rec: number) => [
      { v: { redis_writes_acked: 10, redis_lost_writes: 0, redis_stale_reads: 0, redis_reconnects: 0 } },
      { v: { redis_writes_acked: 50, redis_lost_writes: lost, redis_stale_reads: 0, redis_reconnects: rec } },
    ];
    expect(w.lossless(w.figures(rows(0, 0)))).toMatchObject({ ok: true });
    expect(w.lossless(w.figures(rows(3, 0)))).toMatchObject({ ok: false, why: expect.stringContaining('3 lost') });
    expect(w.lossless(w.figures(rows(0, 1)))).toMatchObject({ ok: false, why: expect.stringContaining('1 reconnects') });
    expect(w.lossless(w.figures([{ v: {} }])).ok).toBeNull();
  });

  it('the hardware dry run plans the redis image, its client and no SIGUSR2', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'experiments/run.ts',
        '--dry-run',
        '--config',
        'config_hw.env.example',
        '--migrations',
        '2',
        '--set',
        'WORKLOAD=redis',
      ],
      {
        cwd: repo,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/podman import .*ENTRYPOINT \["\/usr\/local\/bin\/redis-server"\].* localhost\/p4cf-redis-server/);
    expect(out).toMatch(/redis-client\.mjs --host 192\.168\.12\.\d+ --port \d+ --connections/);
    expect(out).toMatch(/collector\.ts .*--workload redis/);
    expect(out).toMatch(/quiesce none/);
    expect(out).not.toMatch(/kill -USR2|stream-server\.mjs|loadgen\.mjs/);
  });
});

describe('analysis of a redis run', () => {
  it('summary.workload has the figures, the verdict and per-migration windows; the report shows them', async () => {
    const { parseMetricsCsv } = await import('../experiments/analysis/load.ts');
    const { computeSummary } = await import('../experiments/analysis/summary.ts');
    const { renderReport } = await import('../experiments/analysis/report.ts');
    const w = WORKLOADS.redis;
    const t0 = 1_700_000_000_000;
    const lines = [w.columns.join(',')];
    // 20 rows; migrations at rows 5 and 12 (migration_event); 2 writes lost and one reconnect in the second
    for (let i = 0; i < 20; i++) {
      const row: Record<string, string | number> = {
        timestamp: new Date(t0 + i * 1000).toISOString(),
        timestamp_unix_milli: t0 + i * 1000,
        elapsed_s: i,
        migration_event: i === 5 || i === 12 ? 1 : 0,
        redis_writes_acked: 100 * (i + 1),
        redis_lost_writes: i >= 13 ? 2 : 0,
        redis_stale_reads: 0,
        redis_failed_commands: i >= 13 ? 3 : 0,
        redis_reconnects: i >= 13 ? 1 : 0,
        redis_latency_max_ms: i === 6 ? 900 : i === 13 ? 1500 : 2,
        redis_latency_p50_ms: 0.3,
        redis_latency_p99_ms: 1,
      };
      lines.push(w.columns.map((c) => row[c] ?? '').join(','));
    }
    const { metrics } = parseMetricsCsv(lines.join('\n'));
    const run = {
      dir: '/x',
      name: 'run_x',
      format: 'p4cf' as const,
      config: { WORKLOAD: { value: 'redis', origin: '--set' } },
      manifest: null,
      metrics,
      timings: [],
      notes: [],
    };
    const s = computeSummary(run);
    expect(s.workload?.name).toBe('redis');
    expect(s.workload?.lossless).toMatchObject({ ok: false, why: '2000 writes acknowledged, 2 lost, 0 stale, 1 reconnects' });
    expect(s.workload?.per_migration).toEqual([
      { lost_writes: 0, stale_reads: 0, failed_commands: 0, reconnects: 0, latency_max_ms: 900 },
      { lost_writes: 2, stale_reads: 0, failed_commands: 3, reconnects: 1, latency_max_ms: 1500 },
    ]);
    expect(s.run.extra_columns).toEqual([]);
    const html = renderReport(run, s, []);
    expect(html).toContain('Workload: redis');
    expect(html).toMatch(/Lossless: <b>NO<\/b>/);
    const { buildPlots } = await import('../experiments/analysis/plots.ts');
    const plots = buildPlots(run, s).filter((p) => p.name.startsWith('workload_'));
    expect(plots.map((p) => [p.name, 'spec' in p])).toEqual([
      ['workload_latency', true],
      ['workload_checks', true],
    ]);
    // a stream run (no WORKLOAD key, as before the key existed) is judged by the stream record
    expect(computeSummary({ ...run, config: {} }).workload?.name).toBe('stream');
  });
});

describe('binary image build', () => {
  it('a missing binary is refused naming the host, the path and the image, before any podman command', async () => {
    const { createLocalHost } = await import('../lib/hosts/local.ts');
    const { ensureBinaryImage } = await import('../experiments/workloads/rootfs.ts');
    const seen: string[] = [];
    const local = createLocalHost({}, 'lakewood');
    const spy = {
      ...local,
      exec: (cmd: string, o?: Parameters<typeof local.exec>[1]) => {
        seen.push(cmd);
        return local.exec(cmd, o);
      },
    };
    await expect(
      ensureBinaryImage(spy, {
        image: 'localhost/p4cf-test-none',
        binary: '/nonexistent/redis-server',
        as: '/usr/local/bin/redis-server',
        workDir: '/tmp/p4cf-none',
      }),
    ).rejects.toThrow(/\[lakewood\] \/nonexistent\/redis-server is not readable \(needed to build localhost\/p4cf-test-none\)/);
    expect(seen.some((c) => c.includes('podman'))).toBe(false);
  });
});
