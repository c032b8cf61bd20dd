// Per-connection sequence checker: the proof that a migration lost, duplicated or reordered nothing.
// Pure logic (no I/O, time passed in) so it can be tested exactly.

export interface SeqCounts {
  framesReceived: number;
  framesLost: number; // sequence numbers skipped and not (yet) seen later
  framesDuplicated: number;
  framesReordered: number; // arrived after a higher sequence number (were counted lost, now recovered)
  pingsSent: number;
  pingsUnanswered: number; // no pong within the window (or by the end); a late pong takes it back
  pongsLate: number; // answered, but after the window
  pongsUnexpected: number; // pong for a ping never sent or already answered
}

export interface SeqState extends SeqCounts {
  expected: number; // next data sequence number in order
  missing: Set<number>; // gaps still open, oldest first (insertion order)
  pending: Map<number, number>; // ping seq -> send time (ms)
  expired: Set<number>; // pings counted unanswered, still waiting for a late pong
}

// Bounds so a pathological stream cannot grow memory without limit; beyond them a gap stays
// counted lost and a very late pong counts as unexpected.
const MAX_MISSING = 100_000;
const MAX_EXPIRED = 10_000;

export const newSeqState = (): SeqState => ({
  expected: 0,
  missing: new Set(),
  pending: new Map(),
  expired: new Set(),
  framesReceived: 0,
  framesLost: 0,
  framesDuplicated: 0,
  framesReordered: 0,
  pingsSent: 0,
  pingsUnanswered: 0,
  pongsLate: 0,
  pongsUnexpected: 0,
});

/** Records a data frame; returns how many frames it revealed as lost (0 when in order). */
export function onFrame(s: SeqState, seq: number): number {
  s.framesReceived++;
  if (seq === s.expected) {
    s.expected++;
    return 0;
  }
  if (seq > s.expected) {
    const gap = seq - s.expected;
    for (let q = s.expected; q < seq; q++) {
      s.missing.add(q);
      if (s.missing.size > MAX_MISSING) s.missing.delete(s.missing.values().next().value as number);
    }
    s.framesLost += gap;
    s.expected = seq + 1;
    return gap;
  }
  if (s.missing.delete(seq)) {
    s.framesLost--;
    s.framesReordered++;
  } else s.framesDuplicated++;
  return 0;
}

export function onPingSent(s: SeqState, seq: number, nowMs: number): void {
  s.pingsSent++;
  s.pending.set(seq, nowMs);
}

/** Records a pong; returns 'ok', 'late' (after the window) or 'unexpected'. */
export function onPong(s: SeqState, seq: number): 'ok' | 'late' | 'unexpected' {
  if (s.pending.delete(seq)) return 'ok';
  if (s.expired.delete(seq)) {
    s.pingsUnanswered--;
    s.pongsLate++;
    return 'late';
  }
  s.pongsUnexpected++;
  return 'unexpected';
}

/** Counts pings older than `windowMs` as unanswered. */
export function sweepPings(s: SeqState, nowMs: number, windowMs: number): void {
  for (const [seq, sent] of s.pending) {
    // Map keeps insertion (= send) order, so the first young ping ends the sweep.
    if (nowMs - sent < windowMs) break;
    s.pending.delete(seq);
    s.pingsUnanswered++;
    s.expired.add(seq);
    if (s.expired.size > MAX_EXPIRED) s.expired.delete(s.expired.values().next().value as number);
  }
}

/** End of a connection: every ping still waiting is unanswered for good. */
export function finishPings(s: SeqState): void {
  s.pingsUnanswered += s.pending.size;
  s.pending.clear();
  s.expired.clear();
}

export const counts = (s: SeqState): SeqCounts => ({
  framesReceived: s.framesReceived,
  framesLost: s.framesLost,
  framesDuplicated: s.framesDuplicated,
  framesReordered: s.framesReordered,
  pingsSent: s.pingsSent,
  pingsUnanswered: s.pingsUnanswered,
  pongsLate: s.pongsLate,
  pongsUnexpected: s.pongsUnexpected,
});

/** Sums the counts of several connections (and of closed sessions kept as totals). */
export function sumCounts(list: SeqCounts[]): SeqCounts {
  const t = counts(newSeqState());
  for (const c of list) for (const k of Object.keys(t) as (keyof SeqCounts)[]) t[k] += c[k];
  return t;
}
