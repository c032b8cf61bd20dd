// Acceptance of the redis workload on the real local testbed (namespaces, sshd, switch model,
// controller, podman + CRIU): `run.ts --set WORKLOAD=redis --set STATE_MB=16 --migrations 2` migrates
// redis-server with its clients' connections up; 0 lost writes, 0 stale reads and 0 reconnects is
// the lossless proof, and the report shows the workload's own figures. The same run shapes the
// direct link (DIRECT_LINK_RATE=100mbit, issue 16): each ~20 MB checkpoint transfer then takes as
// long as that rate allows for its bytes (the relation, not an absolute time), and the report
// shows the setting beside the transfer times. Run under the testbed lock:
//   flock /tmp/p4cf-testbed.lock npx vitest run test/e2e-redis.test.ts
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tbfBurstBytes } from '../lib/modes/local/shaping.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { projectDir, runRunner } from './helpers/runner.ts';
import { useLocalTestbed } from './helpers/testbed-run.ts';

warnIfNotRoot('test/e2e-redis.test.ts (a redis run on the local testbed)');

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '');
  }
};

const RATE = '100mbit';
const RATE_BPS = 100e6;
/** Bytes on the wire per checkpoint byte: 1448-byte TCP segments (MTU 1500, timestamps) in 1514-byte frames. */
const HEADERS = 1514 / 1448;

describe.skipIf(!isRoot)('redis workload end to end on the local testbed', () => {
  useLocalTestbed();

  let dir = '';

  it('migrates redis-server twice with 0 lost writes and 0 reconnects, and reports its own figures', async () => {
    const r = await runRunner(
      [
        '--set',
        'WORKLOAD=redis',
        '--set',
        'STATE_MB=16',
        '--set',
        `DIRECT_LINK_RATE=${RATE}`,
        '--steady-state',
        '3',
        '--post-migration',
        '4',
        '--migrations',
        '2',
      ],
      {},
      400_000,
    );
    const m = r.stdout.match(/results in (\S+)/);
    expect(m, `no run folder:\n${r.stdout.slice(-3000)}`).not.toBeNull();
    dir = m![1].startsWith('/') ? m![1] : join(projectDir, m![1]);
    expect(r.code, `runner failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`).toBe(0);

    const [head, ...lines] = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    const cols = head.split(',');
    expect(cols).toContain('redis_lost_writes');
    const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
    const last = rows[rows.length - 1];
    expect(Number(last.redis_writes_acked)).toBeGreaterThan(100);
    expect(last).toMatchObject({
      redis_lost_writes: '0',
      redis_stale_reads: '0',
      redis_reconnects: '0',
      redis_failed_commands: '0',
    });
    expect(Number(last.redis_state_bytes)).toBe(16 << 20);
    expect(rows.filter((x) => x.migration_event === '1')).toHaveLength(2);

    // the state preload is in the checkpoints, and both migrations changed hosts
    for (const i of [1, 2]) {
      const t = JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')) as Record<string, unknown>;
      expect(t.source_node).toBe(i === 1 ? 'lakewood' : 'loveland');
      expect(Number(t.checkpoint_size_bytes)).toBeGreaterThan(16 << 20);
    }

    // the client's own final read-back of every acknowledged key, after the last migration
    const log = readFileSync(join(dir, 'loadgen.log'), 'utf8');
    const summary = JSON.parse(/summary (\{.*\})/.exec(log)![1]) as {
      writes_acked: number;
      final_check: { checked: number; lost: number; stale: number };
    };
    expect(summary.final_check).toEqual({ checked: summary.writes_acked, lost: 0, stale: 0 });

    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      workload: { name: string; lossless: { ok: boolean; why: string } };
      migrations: { first_data_after_switch_ms: number | null }[];
    };
    expect(s.workload.name).toBe('redis');
    expect(s.workload.lossless, s.workload.lossless.why).toMatchObject({ ok: true });
    for (const mig of s.migrations) expect(mig.first_data_after_switch_ms).not.toBeNull();
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('Workload: redis');
    expect(html).toMatch(/lost writes<\/td><td[^>]*>0</);
    expect(html).toMatch(/Lossless: <b>yes<\/b>/);

    const containers = sh('podman', ['ps', '-a', '--format', '{{.Names}}'])
      .split('\n')
      .filter((n) => n.startsWith('p4cf-'));
    expect(containers, 'p4cf- containers left after the run').toEqual([]);
  }, 420_000);
  it(`the shaped direct link (${RATE}): each transfer takes what the rate allows for its checkpoint, and the report says so`, () => {
    expect(dir, 'the run of the first test left no run folder').not.toBe('');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      testbed?: { links?: { end: string; rate: string }[] };
    };
    expect(manifest.testbed?.links?.map((l) => [l.end, l.rate])).toEqual([
      ['direct link (lakewood side)', RATE],
      ['direct link (loveland side)', RATE],
    ]);
    const burst = tbfBurstBytes(RATE);
    for (const i of [1, 2]) {
      const t = JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')) as Record<string, number>;
      const bytes = Number(t.checkpoint_size_bytes);
      const wire = Number(t.transfer_wire_ms);
      // no faster than the payload at the rate, less the bucket tbf lets through at once
      const floor = (((bytes - burst) * 8) / RATE_BPS) * 1000;
      // headers on top of the payload, and 10% of that for the ACK clock and the start of the pull over SSH
      const ceiling = ((bytes * HEADERS * 8) / RATE_BPS) * 1000 * 1.1;
      const what = `migration ${i}: ${bytes} bytes in ${wire} ms on the wire at ${RATE} (allowed ${floor.toFixed(0)}–${ceiling.toFixed(0)} ms)`;
      expect(bytes, what).toBeGreaterThan(16 << 20);
      expect(wire, what).toBeGreaterThanOrEqual(floor);
      expect(wire, what).toBeLessThanOrEqual(ceiling);
      expect(Number(t.transfer_ms), what).toBeGreaterThanOrEqual(wire);
    }
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      links: { direct_link: { rate: string }; transfers: { wire_ms: number; ratio: number }[] };
    };
    expect(s.links.direct_link.rate).toBe(RATE);
    expect(s.links.transfers).toHaveLength(2);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<h2>Link emulation</h2>');
    expect(html).toContain(`Direct link (checkpoint transfer): <b>rate ${RATE}</b>`);
    expect(html).toContain(`<th>at ${RATE} (ms)</th>`);
  });
});
