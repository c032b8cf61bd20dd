import { describe, expect, it } from 'vitest';
import {
  counts,
  finishPings,
  newSeqState,
  onFrame,
  onPingSent,
  onPong,
  sumCounts,
  sweepPings,
} from '../experiments/workload/seqcheck.ts';

const feed = (seqs: number[]) => {
  const s = newSeqState();
  for (const q of seqs) onFrame(s, q);
  return counts(s);
};

describe('sequence checker', () => {
  it('an in-order stream has no loss, duplicates or reordering', () => {
    const c = feed([0, 1, 2, 3, 4, 5]);
    expect(c).toMatchObject({ framesReceived: 6, framesLost: 0, framesDuplicated: 0, framesReordered: 0 });
  });

  it('counts injected gaps exactly', () => {
    // 3 and 4 missing, then 8 missing, and the first frame 0 is missing too
    const c = feed([1, 2, 5, 6, 7, 9]);
    expect(c.framesLost).toBe(4);
    expect(c.framesReceived).toBe(6);
  });

  it('counts duplicates exactly, including a duplicate of the newest frame', () => {
    const c = feed([0, 1, 1, 2, 0, 3, 3, 3]);
    expect(c).toMatchObject({ framesDuplicated: 4, framesLost: 0, framesReordered: 0 });
  });

  it('a late frame turns a loss into a reordering', () => {
    const c = feed([0, 1, 3, 4, 2, 5]);
    expect(c).toMatchObject({ framesLost: 0, framesReordered: 1, framesDuplicated: 0 });
    const d = feed([0, 3, 1, 4, 5]); // 2 never arrives, 1 arrives late
    expect(d).toMatchObject({ framesLost: 1, framesReordered: 1 });
  });

  it('a reordered frame seen twice counts as a duplicate the second time', () => {
    expect(feed([0, 2, 1, 1])).toMatchObject({ framesLost: 0, framesReordered: 1, framesDuplicated: 1 });
  });

  it('onFrame reports the size of the gap it revealed', () => {
    const s = newSeqState();
    expect(onFrame(s, 0)).toBe(0);
    expect(onFrame(s, 10)).toBe(9);
  });

  it('pings: answered, unanswered after the window, late pongs and unknown pongs', () => {
    const s = newSeqState();
    for (let i = 0; i < 5; i++) onPingSent(s, i, i * 100);
    expect(onPong(s, 0)).toBe('ok');
    expect(onPong(s, 1)).toBe('ok');
    sweepPings(s, 5350, 5000); // pings 2 (age 5150) and 3 (age 5050) expire; 4 (age 4950) does not
    expect(s.pingsUnanswered).toBe(2);
    expect(onPong(s, 2)).toBe('late');
    expect(s.pingsUnanswered).toBe(1);
    expect(s.pongsLate).toBe(1);
    expect(onPong(s, 2)).toBe('unexpected');
    expect(onPong(s, 99)).toBe('unexpected');
    finishPings(s); // ping 4 still pending
    expect(counts(s)).toMatchObject({ pingsSent: 5, pingsUnanswered: 2, pongsLate: 1, pongsUnexpected: 2 });
  });

  it('sums several sessions', () => {
    const a = feed([0, 2]);
    const b = feed([0, 0]);
    expect(sumCounts([a, b])).toMatchObject({ framesReceived: 4, framesLost: 1, framesDuplicated: 1 });
  });
});
