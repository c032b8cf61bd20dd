// The small shared helpers of lib/run: tail() for error messages and the bounded poll.
import { describe, expect, it } from 'vitest';
import { PollTimeoutError, pollUntil, waitFor } from '../lib/run/poll.ts';
import { tail } from '../lib/run/text.ts';

describe('tail', () => {
  it('keeps the last lines, drops trailing and leading blank lines, caps the characters', () => {
    expect(tail('a\nb\nc\nd\n\n', 2)).toBe('c\nd');
    expect(tail('\n\nonly\n')).toBe('only');
    expect(tail('x'.repeat(50), 15, 10)).toBe(`…${'x'.repeat(10)}`);
  });
});

describe('waitFor / pollUntil', () => {
  it('returns the first value that is not undefined/false', async () => {
    let n = 0;
    expect(await waitFor('third try', () => (++n >= 3 ? n : false), 5_000, 1)).toBe(3);
  });

  it('ends with PollTimeoutError naming what it waited for and the last error of the probe', async () => {
    const e = await waitFor(
      'the moon',
      () => {
        throw new Error('not yet risen');
      },
      30,
      5,
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PollTimeoutError);
    expect((e as Error).message).toBe('timed out after 30 ms waiting for the moon: not yet risen');
  });

  it('pollUntil runs the probe at least once and reports a timeout as no value', async () => {
    let calls = 0;
    const r = await pollUntil(
      () => {
        calls++;
        return undefined;
      },
      0,
      5,
    );
    expect(r.value).toBeUndefined();
    expect(calls).toBe(1);
  });
});
