import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../lib/config/load.ts';
import type { Config, KeyName } from '../lib/config/keys.ts';
import { directionFor, endpoints, parseDirection } from '../lib/migration/migrate.ts';
import { parseRestoreFailure, restoreLogPath } from '../lib/migration/errors.ts';
import { containerNetScript, prefixLength, rtoRouteCmd, serverNode } from '../lib/server/net.ts';
import { markMs, parseScriptOutput } from '../lib/migration/scripts.ts';
import { podmanEngine } from '../lib/migration/podman.ts';
import type { MigrationRun } from '../lib/migration/steps.ts';
import { rstRuleArgs } from '../lib/server/infra.ts';

const config = defaultConfig();
const withKey = <K extends KeyName>(k: K, v: Config[K]): Config => ({ ...config, [k]: v });

describe('migration plan logic', () => {
  it('alternates directions: odd lakewood→loveland, even back', () => {
    expect([1, 2, 3, 4].map((i) => directionFor(config, i))).toEqual([
      'lakewood_loveland',
      'loveland_lakewood',
      'lakewood_loveland',
      'loveland_lakewood',
    ]);
    expect(endpoints('loveland_lakewood')).toEqual({ source: 'loveland', target: 'lakewood' });
    expect(() => directionFor(config, 0)).toThrow(/≥ 1/);
    expect(() => parseDirection(config, 'lakewood-loveland')).toThrow(/SOURCE_TARGET.*lakewood, loveland/);
    expect(() => parseDirection(config, 'lakewood_lakewood')).toThrow(/two different/);
    expect(parseDirection(config, 'loveland_lakewood')).toBe('loveland_lakewood');
  });

  it('honours RTO_MIN_MS, and leaves the kernel default at 0', () => {
    expect(rtoRouteCmd(config, 'eth0', '192.168.12.2')).toBe(
      'ip route replace 192.168.12.0/24 dev eth0 proto kernel scope link src 192.168.12.2 rto_min 5ms',
    );
    expect(rtoRouteCmd(withKey('RTO_MIN_MS', 0), 'eth0', '192.168.12.2')).toBe('');
    expect(containerNetScript(withKey('RTO_MIN_MS', 0), serverNode(config, 'loveland'), 123)).not.toMatch(/rto_min/);
    expect(containerNetScript(withKey('RTO_MIN_MS', 40), serverNode(config, 'loveland'), 123)).toMatch(/rto_min 40ms/);
  });

  it('re-creates eth0 on the target NIC with the fixed MAC and static ARP for the shim', () => {
    const s = containerNetScript(config, serverNode(config, 'loveland'), 4711);
    expect(s).toMatch(/ip link add p4cfmv0 link p4cf-nic type macvlan mode vepa/);
    expect(s).toMatch(/ip link set p4cfmv0 address 02:42:c0:a8:0c:02/);
    expect(s).toMatch(/ip link set p4cfmv0 netns 4711/);
    expect(s).toMatch(/ip neigh replace 192.168.12.100 lladdr 02:42:c0:a8:0c:64 dev eth0 nud permanent/);
    expect(s).toMatch(/192.168.12.2\/24/);
    expect(prefixLength('10.0.0.0/8')).toBe(8);
    expect(() => prefixLength('10.0.0.0')).toThrow(/CIDR/);
  });

  it('checkpoints with the flags of the original and starts the listener on the direct link', () => {
    const r = {
      c: withKey('DRAIN_TIMEOUT', 2000),
      srcDir: '/ck',
      srcTar: '/ck/checkpoint.tar',
      method: 'socat',
      port: 19500,
      srcNode: { ...serverNode(config, 'lakewood'), directIp: '192.168.10.2' },
    } as unknown as MigrationRun;
    const e = podmanEngine;
    const s = [e.quiesce, e.drain, e.checkpoint, e.transfer.offer].map((x) => x.script(r)).join('\n');
    expect(s).toMatch(
      /podman container checkpoint --export \/ck\/checkpoint.tar --compress none --keep --tcp-established p4cf-server/,
    );
    expect(s).toMatch(/kill -USR2 "\$pid"/);
    expect(s).toMatch(/TCP-LISTEN:19500,bind=192.168.10.2/);
    expect(s).toMatch(/\$i -lt 20 \]/); // 2 s of 100 ms polls
    expect(s).toMatch(/\/etc\/criu\/p4cf-migration.conf/); // the CRIU settings are written before the dump
  });

  it('parses host script marks and values', () => {
    const o = parseScriptOutput(
      'mark start 1000000000\npid 42\nquiesced\ndrain drained polls=0\nmark checkpointed 1250000000\nsize 123\n',
    );
    expect(o.values.pid).toBe('42');
    expect(o.values.drain).toBe('drained polls=0');
    expect('quiesced' in o.values).toBe(true);
    expect(markMs(o, 'start', 'checkpointed')).toBe(250);
    expect(() => markMs(o, 'start', 'restored')).toThrow(/lacks mark restored/);
  });

  it('finds the CRIU log path podman prints, and the exact RST rule spec', () => {
    expect(
      restoreLogPath('Error: criu failed\nlog file: /var/lib/containers/storage/overlay-containers/abc/userdata/restore.log\n'),
    ).toBe('/var/lib/containers/storage/overlay-containers/abc/userdata/restore.log');
    expect(restoreLogPath('Error: something else')).toBeUndefined();
    // read once: podman's output after the marker, and the log it names; nothing when podman succeeded
    const f = parseRestoreFailure({
      code: 3,
      stderr: '',
      stdout: 'mark restore_start 1\nRESTORE-FAILED\nError: x\nlog file: /u/restore.log\n',
    });
    expect(f).toEqual({ podmanOutput: 'Error: x\nlog file: /u/restore.log', logPath: '/u/restore.log' });
    expect(parseRestoreFailure({ code: 1, stderr: 'ip: no such device', stdout: 'id abc\n' })).toBeUndefined();
    expect(rstRuleArgs('eth9').join(' ')).toBe(
      'OUTPUT -o eth9 -p tcp --tcp-flags RST RST -m comment --comment p4cf-rst-drop -j DROP',
    );
  });
});
