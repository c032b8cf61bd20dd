// The one command-line parser (lib/run/cli.ts) and every entry script that uses it: typed values,
// generated --help, and unknown flags or stray arguments refused with exit 2 before anything runs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { helpText, intIn, parseCli, parseDuration, UsageError, type CliSpec } from '../lib/run/cli.ts';
import { projectDir } from './helpers/runner.ts';

const tsxCli = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');

function runScript(script: string, args: string[]) {
  const r = spawnSync(process.execPath, [tsxCli, join(projectDir, script), ...args], {
    cwd: projectDir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, CI: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SPEC = {
  command: 'demo',
  summary: 'A demo.',
  args: { name: 'WHAT', what: 'thing', min: 1, choices: ['up', 'down'] },
  options: {
    count: { type: 'string', arg: 'N', default: '3', parse: intIn(1, 9), help: 'how many' },
    name: { type: 'string', help: 'a name' },
    tag: { type: 'string', multiple: true, help: 'tags' },
    verbose: { type: 'boolean', short: 'v', group: 'Output', help: 'say more' },
  },
} as const satisfies CliSpec;

describe('parseCli', () => {
  it('gives typed values with defaults, repeatable options in order, and the order given', () => {
    const p = parseCli(SPEC, ['up', '--count=5', '--tag', 'a', '-v', '--tag', 'b']);
    expect(p.values).toEqual({ count: 5, tag: ['a', 'b'], verbose: true, help: false });
    expect(p.args).toEqual(['up']);
    expect(p.given.map((g) => g.name)).toEqual(['count', 'tag', 'verbose', 'tag']);
    expect(parseCli(SPEC, ['down']).values.count).toBe(3);
  });

  it('refuses unknown flags naming them and listing the valid ones', () => {
    expect(() => parseCli(SPEC, ['up', '--any-typo'])).toThrow(
      new UsageError('unknown option --any-typo; valid options: --count --name --tag --verbose --help'),
    );
    expect(() => parseCli(SPEC, ['up', '-x'])).toThrow(/^unknown option -x; valid options/);
  });

  it('refuses missing values, repeats, values of booleans, bad values and stray arguments', () => {
    expect(() => parseCli(SPEC, ['up', '--name'])).toThrow('--name needs a value');
    expect(() => parseCli(SPEC, ['up', '--name', '--count', '2'])).toThrow('--name needs a value');
    expect(() => parseCli(SPEC, ['up', '--name', 'a', '--name', 'b'])).toThrow('--name given twice');
    expect(() => parseCli(SPEC, ['up', '--verbose=yes'])).toThrow('--verbose takes no value');
    expect(() => parseCli(SPEC, ['up', '--count', '12'])).toThrow('--count "12": expected an integer in 1..9');
    expect(() => parseCli(SPEC, [])).toThrow('no thing given');
    expect(() => parseCli(SPEC, ['sideways'])).toThrow('unknown thing "sideways": expected up, down');
    expect(() => parseCli(SPEC, ['up', 'down'])).toThrow(/expected exactly 1 thing/);
    expect(() => parseCli(SPEC, ['up', '--', 'x'])).toThrow('unexpected argument "x" after --');
    expect(() => parseCli({ command: 'c', options: {} }, ['x'])).toThrow('unexpected argument "x"; c takes options only');
    expect(() => parseCli({ command: 'c', options: { a: { type: 'string', required: true } } }, [])).toThrow('--a is required');
    // --help skips the checks of arguments (so `cmd --help` works without them)
    expect(parseCli(SPEC, ['--help']).values.help).toBe(true);
  });

  it('generates --help from the declarations', () => {
    const h = helpText(SPEC);
    expect(h.split('\n')[0]).toBe('usage: demo [options] up|down');
    expect(h).toMatch(/^ {2}--count N\s+how many$/m);
    expect(h).toMatch(/^Output:\n {2}-v, --verbose\s+say more$/m);
    expect(h).toMatch(/^ {2}-h, --help\s+this text$/m);
  });

  it('parses durations with units, bare numbers only where a unit is given', () => {
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('250', 'ms')).toBe(250);
    expect(parseDuration('20', 's')).toBe(20_000);
    expect(() => parseDuration('20')).toThrow(/expected a duration such as 500ms/);
    expect(() => parseDuration('fast', 'ms')).toThrow(/or a number of milliseconds/);
  });
});

describe('entry scripts', () => {
  // Each refuses a typo with exit 2 before doing anything (testbed up would otherwise bring up the testbed).
  const scripts: [string, string[]][] = [
    ['experiments/testbed.ts', ['up']],
    ['experiments/run.ts', []],
    ['experiments/clean.ts', []],
    ['experiments/migrate.ts', ['--direction', 'lakewood_loveland']],
    ['experiments/setup.ts', []],
    ['experiments/compare.ts', ['results']],
    ['experiments/plot.ts', ['results']],
    ['p4/model/main.ts', []],
    ['controller/main.ts', ['--config', 'x.json']],
    ['hw/check-python.ts', []],
    ['experiments/workload/loadgen.ts', []],
    ['experiments/workload/server.ts', []],
    ['experiments/workload/collector.ts', ['--server', 'http://127.0.0.1:1/', '--loadgen', 'http://127.0.0.1:1/']],
  ];
  it.each(scripts)('%s refuses --any-typo with exit 2, naming it and the valid options', (script, args) => {
    const r = runScript(script, [...args, '--any-typo']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error: unknown option --any-typo; valid options: .*--help\n/);
    expect(r.stdout).toBe('');
  });

  it('testbed.ts --help prints the generated help and exits 0', () => {
    const r = runScript('experiments/testbed.ts', ['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^usage: npx tsx experiments\/testbed.ts \[options\] up\|down\|status\n/);
    expect(r.stdout).toMatch(/--no-prereqs/);
    expect(r.stdout).toMatch(/--set KEY=VALUE/);
  });
});
