// "Data flowing again after the switch update" from the load generator's own timestamps (issue 13):
// per-connection first-data-after-gap lines placed against each migration's switch_update_done_ns.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addFirstDataToTimings, firstDataAfterSwitch, parseGapEvents, pongStall } from '../experiments/analysis/first-data.ts';

const tmp = mkdtempSync(join(tmpdir(), 'p4ca-fd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const S = 1_000_000_000n; // 1 s in ns
const T0 = 1_764_576_000n * S; // some wall-clock instant
const line = (conn: number, gapMs: number, atNs: bigint) =>
  `2026-12-01T10:00:00.000Z first-data-after-gap conn=${conn} seq=${100 + conn} gap_ms=${gapMs} at_ns=${atNs}`;

describe('first data after the switch update', () => {
  // migration 1: starts at T0, switch done at T0+700ms; connections resume 2.4 ms and 9.1 ms after it
  const log = [
    line(0, 250, T0 - 5n * S), // a stall long before the migration: not this migration's
    line(0, 702, T0 + 702_400_000n),
    line(1, 705, T0 + 709_100_000n),
    line(1, 300, T0 + 5n * S), // a later stall after the switch: not part of the gap over the switch
    'conn 2 open',
  ].join('\n');

  it('parses only the timestamped lines', () => {
    expect(parseGapEvents(log)).toHaveLength(4);
    expect(parseGapEvents('first-data-after-gap conn=1 seq=2 gap_ms=300')).toEqual([]); // old format: no at_ns
  });

  it('the first and the last stalled connection, in ms after the switch update', () => {
    expect(firstDataAfterSwitch(parseGapEvents(log), T0, T0 + 700_000_000n)).toEqual({
      first_data_after_switch_ms: 2.4,
      last_connection_data_after_switch_ms: 9.1,
      stalled_connections: 2,
    });
    expect(firstDataAfterSwitch(parseGapEvents(log), T0 + 10n * S, T0 + 11n * S)).toBeUndefined();
  });

  it('writes the figures into timing JSON files that lack them, once', () => {
    const f = join(tmp, 'migration_timing_1.json');
    writeFileSync(
      f,
      JSON.stringify({
        index: 1,
        migration_start_ns: String(T0),
        switch_update_done_ns: String(T0 + 700_000_000n),
        time_to_ready_ms: 700,
      }),
    );
    const bash = join(tmp, 'migration_timing_2.json');
    writeFileSync(bash, JSON.stringify({ index: 2, time_to_ready_ms: 3900 }));
    expect(addFirstDataToTimings(log, [f, bash])).toBe(1);
    const t = JSON.parse(readFileSync(f, 'utf8'));
    expect(t).toMatchObject({
      time_to_ready_ms: 700,
      first_data_after_switch_ms: 2.4,
      last_connection_data_after_switch_ms: 9.1,
      first_data_source: 'loadgen',
    });
    expect(addFirstDataToTimings(log, [f])).toBe(0);
    expect(JSON.parse(readFileSync(bash, 'utf8'))).toEqual({ index: 2, time_to_ready_ms: 3900 });
  });
});

import { counterNet, counterTotal } from '../experiments/analysis/summary.ts';
import { CSV_COLUMNS } from '../experiments/workload/columns.ts';

describe('one definition of pings unanswered (issue 12 item 6), and RTTs over the cap (issue 13)', () => {
  // a stall: 76 pings overdue at its peak, all answered late afterwards → 0 never answered
  const rows = [0, 76, 76, 0, 0].map((v, i) => ({
    elapsed: i,
    v: { pings_unanswered: v, pongs_late: [0, 0, 0, 76, 76][i], rtts_over_cap: [0, 0, 3, 3, 3][i] },
  })) as never;
  it('the run total is the net count the load generator reports, not the peak', () => {
    expect(counterNet(rows, 'pings_unanswered')).toBe(0);
    expect(counterTotal(rows, 'pongs_late')).toBe(76);
  });
  it('RTTs over RTT_CAP are a metrics.csv column (appended: the original 19 columns keep their place)', () => {
    expect(CSV_COLUMNS.slice(0, 19)).toContain('migration_event');
    expect(CSV_COLUMNS.at(-1)).toBe('rtts_over_cap');
    expect(counterTotal(rows, 'rtts_over_cap')).toBe(3);
  });
});

describe('the RTO stall: pongs answered again after the switch update (issue 13)', () => {
  const pong = (conn: number, gapMs: number, atNs: bigint) =>
    `2026-12-01T10:00:00.000Z first-pong-after-gap conn=${conn} seq=7 gap_ms=${gapMs} rtt_ms=3120.5 at_ns=${atNs}`;
  // switch done at T0+7.3 s; data resumed 4 ms after it, pongs 3.1 s and 5.2 s after it
  const log = [
    line(0, 7300, T0 + 7_304_000_000n),
    pong(0, 10_300, T0 + 10_400_000_000n),
    pong(1, 12_400, T0 + 12_500_000_000n),
  ].join('\n');

  it('pong lines are their own events, data lines stay data', () => {
    expect(parseGapEvents(log)).toHaveLength(1);
    expect(parseGapEvents(log, 'pong').map((e) => e.conn)).toEqual([0, 1]);
  });

  it('per migration: first and last connection answered again, in ms after the switch update', () => {
    expect(pongStall(parseGapEvents(log, 'pong'), T0, T0 + 7_300_000_000n)).toEqual({
      first_pong_after_switch_ms: 3100,
      last_pong_after_switch_ms: 5200,
      pong_stalled_connections: 2,
    });
  });

  it('goes into the timing JSON beside first data', () => {
    const f = join(tmp, 'migration_timing_7.json');
    writeFileSync(
      f,
      JSON.stringify({ index: 7, migration_start_ns: String(T0), switch_update_done_ns: String(T0 + 7_300_000_000n) }),
    );
    expect(addFirstDataToTimings(log, [f])).toBe(1);
    const t = JSON.parse(readFileSync(f, 'utf8'));
    expect(t).toMatchObject({ first_data_after_switch_ms: 4, first_pong_after_switch_ms: 3100, last_pong_after_switch_ms: 5200 });
  });
});

describe("the RTO stall of a request/response workload: the redis client's replies", () => {
  // a SET sent 0.3 s into the freeze, answered 1.9 s after the switch update at T0+4 s
  const log = [
    `2026-12-01T10:00:00.000Z first-reply-after-gap conn=2 seq=41 gap_ms=5600.2 at_ns=${T0 + 5_900_000_000n}`,
    `2026-12-01T10:00:01.000Z first-reply-after-gap conn=0 seq=40 gap_ms=5100.0 at_ns=${T0 + 5_400_000_000n}`,
  ].join('\n');

  it('count as the client→server stall, like pongs', () => {
    expect(parseGapEvents(log)).toEqual([]);
    expect(pongStall(parseGapEvents(log, 'pong'), T0, T0 + 4_000_000_000n)).toEqual({
      first_pong_after_switch_ms: 1400,
      last_pong_after_switch_ms: 1900,
      pong_stalled_connections: 2,
    });
  });
});
