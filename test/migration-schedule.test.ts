// MIGRATION_SCHEDULE: the (from, to) hops of each schedule, the container's first home, where the
// load generator stays, and the errors for schedules that cannot be followed.
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../lib/config/load.ts';
import { directionFor } from '../lib/migration/migrate.ts';
import { homeServer, hopFor, loadgenHost, migrationHops, visits } from '../lib/migration/schedule.ts';

const S3 = ['lakewood', 'loveland', 'boulder'];
const hops = (schedule: string, servers: string[], n: number) =>
  migrationHops(schedule, servers, n).map((h) => `${h.from}>${h.to}`);

describe('migration schedule', () => {
  it("alternate: first ↔ second, whatever the other servers (today's experiment)", () => {
    expect(hops('alternate', ['lakewood', 'loveland'], 4)).toEqual([
      'lakewood>loveland',
      'loveland>lakewood',
      'lakewood>loveland',
      'loveland>lakewood',
    ]);
    expect(hops('alternate', S3, 3)).toEqual(['lakewood>loveland', 'loveland>lakewood', 'lakewood>loveland']);
  });

  it('round-robin: through SERVERS in order and back to the first', () => {
    expect(hops('round-robin', S3, 4)).toEqual([
      'lakewood>loveland',
      'loveland>boulder',
      'boulder>lakewood',
      'lakewood>loveland',
    ]);
    expect(new Set(visits('round-robin', S3, 3))).toEqual(new Set(S3));
    expect(hops('round-robin', ['a', 'b'], 2)).toEqual(hops('alternate', ['a', 'b'], 2));
  });

  it('random:SEED: the same hops for the same seed, another server each time, from the first', () => {
    const a = hops('random:42', S3, 50);
    expect(hops('random:42', S3, 50)).toEqual(a);
    expect(hops('random:43', S3, 50)).not.toEqual(a);
    const h = migrationHops('random:42', S3, 50);
    expect(h[0].from).toBe('lakewood');
    for (const [i, x] of h.entries()) {
      expect(x.from).not.toBe(x.to);
      if (i > 0) expect(x.from).toBe(h[i - 1].to);
    }
    // every server is drawn in 50 hops over 3 servers
    expect(new Set(h.map((x) => x.to))).toEqual(new Set(S3));
    // the prefix does not depend on the count (a resumed run makes the same hops)
    expect(hops('random:42', S3, 7)).toEqual(a.slice(0, 7));
  });

  it('list:a,b,c: the visited servers in order, cyclically, starting on the first of the list', () => {
    expect(visits('list:boulder,lakewood,loveland', S3, 4)).toEqual(['boulder', 'lakewood', 'loveland', 'boulder', 'lakewood']);
    expect(hops('list:loveland,boulder', S3, 3)).toEqual(['loveland>boulder', 'boulder>loveland', 'loveland>boulder']);
    expect(() => visits('list:lakewood,nowhere', S3, 2)).toThrow(/not a server: nowhere/);
    expect(() => visits('list:lakewood,loveland,lakewood', S3, 3)).toThrow(/migration 3 would go from lakewood to itself/);
    expect(() => visits('sideways', S3, 1)).toThrow(/expected alternate, round-robin/);
    expect(visits('round-robin', S3, 0)).toEqual(['lakewood']);
  });

  it('from a config: hop i, the first home, the load generator host, the direction string', () => {
    const c = defaultConfig(['--set', 'SERVERS=lakewood,loveland,boulder', '--set', 'MIGRATION_SCHEDULE=list:boulder,loveland']);
    expect(homeServer(c)).toBe('boulder');
    expect(hopFor(c, 1)).toEqual({ from: 'boulder', to: 'loveland' });
    expect(hopFor(c, 2)).toEqual({ from: 'loveland', to: 'boulder' });
    expect(directionFor(c, 2)).toBe('loveland_boulder');
    expect(() => hopFor(c, 0)).toThrow(/≥ 1/);
    // the load generator stays on the first server by default, wherever the container starts
    expect(loadgenHost(c)).toBe('lakewood');
    expect(loadgenHost(defaultConfig(['--set', 'SERVERS=a,b,c', '--set', 'LOADGEN_HOST=c']))).toBe('c');
    expect(homeServer(defaultConfig())).toBe('lakewood');
  });
});
