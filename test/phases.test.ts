// Phase selection (--phase/--from/--to/--skip/--resume), CLI conflicts, --list and --dry-run of the
// real runner.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PHASE_ORDER, selectPhases, SelectionError } from '../lib/run/phases.ts';
import { parseCli, UsageError } from '../experiments/run.ts';
import { phases as registry } from '../experiments/phases/index.ts';
import { projectDir, runRunner } from './helpers/runner.ts';

const ALL = ['a', 'b', 'c', 'd', 'e'];
const tmp = mkdtempSync(join(tmpdir(), 'p4ca-phases-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('selectPhases', () => {
  it('no selection → all, in order', () => expect(selectPhases(ALL, {})).toEqual(ALL));
  it('--phase keeps registry order whatever the order given', () =>
    expect(selectPhases(ALL, { phase: ['d', 'b'] })).toEqual(['b', 'd']));
  it('--from / --to / both', () => {
    expect(selectPhases(ALL, { from: 'c' })).toEqual(['c', 'd', 'e']);
    expect(selectPhases(ALL, { to: 'b' })).toEqual(['a', 'b']);
    expect(selectPhases(ALL, { from: 'b', to: 'd' })).toEqual(['b', 'c', 'd']);
    expect(selectPhases(ALL, { from: 'c', to: 'c' })).toEqual(['c']);
  });
  it('--skip removes from a range or from everything', () => {
    expect(selectPhases(ALL, { skip: ['b', 'e'] })).toEqual(['a', 'c', 'd']);
    expect(selectPhases(ALL, { from: 'b', to: 'd', skip: ['c'] })).toEqual(['b', 'd']);
  });
  it('--resume continues with the first phase not finished ok, unless told where', () => {
    expect(selectPhases(ALL, { resume: true, resumeDone: ['a', 'b'] })).toEqual(['c', 'd', 'e']);
    expect(selectPhases(ALL, { resume: true, resumeDone: ['a', 'c'] })).toEqual(['b', 'c', 'd', 'e']);
    expect(selectPhases(ALL, { resume: true, resumeDone: ['a', 'b'], phase: ['a'] })).toEqual(['a']);
    expect(selectPhases(ALL, { resume: true, resumeDone: ['a', 'b'], from: 'a', to: 'b' })).toEqual(['a', 'b']);
    expect(selectPhases(ALL, { resume: true, resumeDone: ['a'], skip: ['b'] })).toEqual(['c', 'd', 'e']);
  });
  it('errors: unknown names list the valid ones, conflicts, empty results', () => {
    const err = (sel: Parameters<typeof selectPhases>[1]) => {
      try {
        selectPhases(ALL, sel);
      } catch (e) {
        expect(e).toBeInstanceOf(SelectionError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err({ phase: ['a', 'zz'] })).toBe('--phase: unknown phase zz; valid phases in order: a b c d e');
    expect(err({ from: 'q' })).toMatch(/^--from: unknown phase q; valid phases/);
    expect(err({ to: 'q' })).toMatch(/^--to: unknown phase q/);
    expect(err({ skip: ['x', 'y'] })).toMatch(/^--skip: unknown phases x, y/);
    expect(err({ from: 'd', to: 'b' })).toBe('--from d comes after --to b (order: a b c d e)');
    expect(err({ phase: ['a'], from: 'b' })).toMatch(/--phase cannot be combined with --from\/--to/);
    expect(err({ phase: ['a'], skip: ['a'] })).toBe('a both selected with --phase and skipped with --skip');
    expect(err({ from: 'e', skip: ['e'] })).toBe('no phase left to run after --skip');
    expect(err({ resume: true, resumeDone: ALL })).toMatch(/every phase of that run already finished ok/);
    expect(err({ resume: true, resumeDone: ['a', 'b', 'c'], to: 'b' })).toMatch(/continues at d, which is after --to b/);
  });
});

describe('parseCli', () => {
  it('parses lists, ranges and passes config flags through', () => {
    const c = parseCli(['--phase', 'a, b', '--skip=c', '--set', 'X=1', '--steady-state', '3', '--dry-run']);
    expect(c.phase).toEqual(['a', 'b']);
    expect(c.skip).toEqual(['c']);
    expect(c.dryRun).toBe(true);
    expect(c.configArgs).toEqual(['--set', 'X=1', '--steady-state', '3']);
  });
  it('rejects unknown options, missing values, repeats and conflicts with clear errors', () => {
    expect(() => parseCli(['--phases', 'a'])).toThrow(UsageError);
    expect(() => parseCli(['--phases', 'a'])).toThrow(
      /^unknown option --phases; valid options: --list --phase --from .* --set .* --print-config --help$/,
    );
    expect(() => parseCli(['stray'])).toThrow('unexpected argument "stray"');
    expect(() => parseCli(['--from'])).toThrow('--from needs a value');
    expect(() => parseCli(['--from', '--to', 'x'])).toThrow('--from needs a value');
    expect(() => parseCli(['--phase', 'a', '--phase', 'b'])).toThrow(/--phase given twice/);
    expect(() => parseCli(['--resume', 'x', '--dry-run'])).toThrow(/--dry-run cannot be combined with --resume/);
    expect(() => parseCli(['--phase', 'a', '--to', 'b'])).toThrow(/--phase cannot be combined/);
    expect(() => parseCli(['--list=yes'])).toThrow('--list takes no value');
  });
});

describe('registry', () => {
  it('lists existing phase files in the documented order, each described', () => {
    const names = registry.map((p) => p.name);
    const order = names.map((n) => (PHASE_ORDER as readonly string[]).indexOf(n));
    expect(
      order.every((i) => i >= 0),
      `unknown phase in registry: ${names}`,
    ).toBe(true);
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(names).toContain('preflight');
    for (const p of registry) expect(p.description.length, p.name).toBeGreaterThan(10);
  });
});

describe('runner CLI', () => {
  it('--list prints the phases in order', async () => {
    const r = await runRunner(['--list']);
    expect(r.code, r.stderr).toBe(0);
    const listed = [...r.stdout.matchAll(/^\s*\d+\. (\S+)/gm)].map((m) => m[1]);
    expect(listed).toEqual(registry.map((p) => p.name));
  });
  it('an unknown phase exits 2 and lists the valid ones', async () => {
    const r = await runRunner(['--phase', 'preflite']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--phase: unknown phase preflite; valid phases in order:');
    expect(r.stderr).toContain('preflight');
  });
  it('--resume of a folder that is not a run fails clearly', async () => {
    const r = await runRunner(['--resume', tmp]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`not a run folder (no manifest.json in ${tmp})`);
  });
  it("--dry-run --phase preflight prints each host's commands, runs nothing, writes no run folder", async () => {
    const results = join(tmp, 'dry');
    const r = await runRunner(['--dry-run', '--phase', 'preflight', '--set', `RESULTS_DIR=${results}`]);
    expect(r.code, r.stderr).toBe(0);
    for (const h of ['tofino', 'lakewood', 'loveland'])
      expect(r.stdout).toMatch(new RegExp(`^\\[${h}\\] \\$ echo "kernel=`, 'm'));
    expect(r.stdout).toMatch(/^\[lakewood\] \$ ip -o link show dev p4cf-nic$/m);
    expect(r.stdout).toMatch(/=== preflight — .* — on tofino, lakewood, loveland/);
    expect(r.stdout).toMatch(/=== preflight ok in/);
    expect(existsSync(results) ? readdirSync(results) : []).toEqual([]);
  });
  it('a bad --set value fails before any phase runs', async () => {
    const r = await runRunner(['--set', 'LOADGEN_FPS=0', '--phase', 'preflight'], {
      P4CF_PHASES_MODULE: join(projectDir, 'test/fixtures/p4ca-phases.ts'),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/LOADGEN_FPS="0" \(from --set\): expected an integer >= 1/);
    expect(r.stdout).not.toContain('===');
  });
});
