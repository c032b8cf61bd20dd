import { describe, expect, it } from 'vitest';
import { parseTimingText } from '../experiments/analysis/load.ts';
import { computeTiming, formatTimingTxt, TIMING_KEYS, type MigrationMarks } from '../lib/migration/timing.ts';

const ms = (n: number): bigint => BigInt(Math.round(n * 1e6));
const base = 1_700_000_000_000_000_000n;

// A migration laid out like the published one: 1564 ms checkpoint, 157 ms transfer, 1798 ms restore, 32 ms switch.
function marks(): MigrationMarks {
  const at = (t: number) => base + ms(t);
  return {
    start: at(0),
    quiesced: at(10),
    drained: at(300),
    checkpointDone: at(1564),
    transferStart: at(1570),
    transferEnd: at(1711),
    transferDone: at(1721),
    sourceStopStart: at(1721),
    sourceStopDone: at(1800),
    restoreStart: at(1805),
    restoreDone: at(1564 + 157 + 1798),
    switchDone: at(1564 + 157 + 1798 + 32),
    end: at(3600),
  };
}
const meta = {
  sourceNode: 'lakewood',
  targetNode: 'loveland',
  serverIp: '192.168.12.2',
  targetSwPort: 148,
  transferMethod: 'socat',
  checkpointSizeBytes: 6_400_000,
};

describe('migration timing', () => {
  it('derives every phase from the instants', () => {
    const t = computeTiming(marks(), meta);
    expect(t.checkpoint_ms).toBe(1564);
    expect(t.transfer_ms).toBe(157);
    expect(t.restore_ms).toBe(1798);
    expect(t.switch_ms).toBe(32);
    expect(t.time_to_ready_ms).toBe(1564 + 157 + 1798 + 32);
    expect(t.total_ms).toBe(3600);
    expect(t.pre_transfer_ms).toBe(6);
    expect(t.post_transfer_ms).toBe(10);
    expect(t.pre_restore_ms).toBe(84);
    expect(t.source_stop_ms).toBe(79);
    expect(t.post_switch_ms).toBe(3600 - 3551);
    expect(t.drain_ms).toBe(290);
    expect(t.migration_start_ns).toBe(base.toString());
    expect(t.target_sw_port).toBe(148);
  });

  it('keeps phase sums consistent with time_to_ready', () => {
    const t = computeTiming(marks(), meta);
    const sum = Number(t.checkpoint_ms) + Number(t.transfer_ms) + Number(t.restore_ms) + Number(t.switch_ms);
    expect(sum).toBeCloseTo(Number(t.time_to_ready_ms), 6);
  });

  it('writes exactly the original keys in order, and the analysis reads them back', () => {
    const t = computeTiming(marks(), meta);
    const txt = formatTimingTxt(t);
    expect(
      txt
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0]),
    ).toEqual([...TIMING_KEYS]);
    const back = parseTimingText(txt);
    expect(back.time_to_ready_ms).toBe(String(t.time_to_ready_ms));
    expect(back.migration_start_ns).toBe(base.toString()); // ns stay exact strings
    expect(back.source_node).toBe('lakewood');
  });

  it('rejects marks out of order, naming them', () => {
    const m = marks();
    m.switchDone = m.restoreDone - 1n;
    expect(() => computeTiming(m, meta)).toThrow(/switchDone.*before restoreDone/);
  });
});
