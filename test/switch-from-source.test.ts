// Issue 11 item h: the switch update sent from the source server, as the published scripts did.
// Unit: who sends it per config; end to end on the local testbed: the controller listening on the
// switch's management address, each migration's POST /updateForward sent by the source server with
// the bearer token on stdin, 0 frames lost.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { controllerUrlForServers, switchUpdateFrom } from '../lib/switch/controller-client.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { projectDir, runRunner } from './helpers/runner.ts';
import { spawnSync } from 'node:child_process';

const HW = { TESTBED: 'hw', TOFINO_SSH: 'lab@sw.lab', LAKEWOOD_SSH: 'lab@lw.lab', LOVELAND_SSH: 'lab@lv.lab' };
const cfg = (env: Record<string, string>, argv: string[] = []) => loadConfig({ cwd: projectDir, env, argv });

describe('who sends the switch update', () => {
  it('auto: the source server on hardware when the controller is reachable from the servers; this machine otherwise (warned on hardware)', () => {
    expect(switchUpdateFrom(cfg(HW, ['--set', 'CONTROLLER_LISTEN=10.1.0.5', '--set', 'CONTROLLER_TOKEN=t']).config)).toBe(
      'source',
    );
    const fallback = cfg(HW);
    expect(switchUpdateFrom(fallback.config)).toBe('control');
    expect(fallback.warnings.join('\n')).toMatch(/switch updates go from this machine through the SSH forward/);
    expect(switchUpdateFrom(cfg({}, ['--set', 'CONTROLLER_LISTEN=10.199.0.2']).config)).toBe('control'); // local: p4cf's default
    expect(controllerUrlForServers(cfg(HW, ['--set', 'CONTROLLER_LISTEN=0.0.0.0']).config)).toBe('http://sw.lab:5000');
  });
  it('source with a loopback controller is refused naming both keys', () => {
    expect(() => cfg({}, ['--set', 'SWITCH_UPDATE_FROM=source'])).toThrow(
      /^SWITCH_UPDATE_FROM=source \(from --set\) needs the servers to reach the controller, but CONTROLLER_LISTEN=127\.0\.0\.1/,
    );
  });
});

warnIfNotRoot('test/switch-from-source.test.ts (a run on the local testbed)');

describe.skipIf(!isRoot)('on the local testbed', () => {
  const testbedWasUp = existsSync('/run/netns/p4cf-tofino');
  afterAll(() => {
    const tsx = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    spawnSync(process.execPath, [tsx, join(projectDir, 'experiments', 'clean.ts')], { cwd: projectDir, timeout: 120_000 });
    if (!testbedWasUp)
      spawnSync(process.execPath, [tsx, join(projectDir, 'experiments', 'testbed.ts'), 'down'], {
        cwd: projectDir,
        timeout: 120_000,
      });
  });

  it("each migration's switch update comes from its source server, and nothing is lost", async () => {
    const r = await runRunner(
      [
        '--migrations',
        '2',
        '--steady-state',
        '2',
        '--post-migration',
        '2',
        '--set',
        'SWITCH_UPDATE_FROM=source',
        '--set',
        'CONTROLLER_LISTEN=10.199.0.2',
        '--set',
        'CONTROLLER_TOKEN=from-source-t0k',
      ],
      {},
      300_000,
    );
    expect(r.code, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-1500)}`).toBe(0);
    const dir = /results in (\S+)/.exec(r.stdout)![1];
    const t = [1, 2].map((i) => JSON.parse(readFileSync(join(dir, `migration_timing_${i}.json`), 'utf8')));
    expect(t.map((x) => x.switch_update_from)).toEqual(['lakewood', 'loveland']);
    expect(t.every((x) => x.switch_http_ms > 0)).toBe(true);
    expect(r.stdout).toMatch(/switch updated to port \d+ from lakewood/);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s.counters.frames_lost.total).toBe(0);
    expect(s.connection_drops).toBe(0);
    for (const f of ['experiment.log', 'manifest.json', 'config.json'])
      expect(readFileSync(join(dir, f), 'utf8'), f).not.toContain('from-source-t0k');
  });
});
