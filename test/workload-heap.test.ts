// The server image's node flags bound the young generation (issue 12 item 6): V8 doubles it each
// time as many bytes have survived as it holds, and every page it touched is in the next checkpoint.
// A probe with a steady stream of short-lived survivors (as the stream server's frames and pongs)
// grows it to 32 MB without the flags.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { IMAGE_NODE_FLAGS } from '../experiments/workload/image.ts';

const PROBE = `
const v8 = require('node:v8');
const ring = new Array(20000);
for (let i = 0; i < 3_000_000; i++) ring[i % ring.length] = { seq: i, pad: 'x'.repeat(64) + i };
const sp = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
console.log(JSON.stringify({ young: sp.new_space, kept: ring.length }));
`;

const youngAfter = (flags: string[]): number =>
  (JSON.parse(execFileSync(process.execPath, [...flags, '-e', PROBE], { encoding: 'utf8' })) as { young: number }).young;

describe('stream server heap flags', () => {
  it('are flags this node accepts, and name a semi-space cap', () => {
    expect(IMAGE_NODE_FLAGS.some((f) => /^--max-semi-space-size=\d+$/.test(f))).toBe(true);
    expect(() => execFileSync(process.execPath, [...IMAGE_NODE_FLAGS, '-e', '0'], { stdio: 'pipe' })).not.toThrow();
  });

  it('hold the young generation at 2 MB where the defaults let it grow to 32 MB', () => {
    expect(youngAfter(IMAGE_NODE_FLAGS)).toBeLessThanOrEqual(4 << 20);
    // the same probe without them: shows the probe does grow the young generation
    expect(youngAfter([])).toBeGreaterThanOrEqual(16 << 20);
  }, 30_000);
});
