// config_hw.env.example: parses with dotenv, every key declared and valid, TESTBED=hw, the
// published testbed's layout, a comment for every key, and usable by lib/modes/hw/sde.ts.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { type ConfigKey, KEYS } from '../lib/config/keys.ts';
import { declOf } from '../lib/config/servers.ts';
import { loadConfig } from '../lib/config/load.ts';
import { parseByType } from '../lib/config/values.ts';
import { switchdCommand } from '../lib/modes/hw/sde.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(repo, 'config_hw.env.example');
const text = readFileSync(file, 'utf8');
const values = parse(text);

describe('config_hw.env.example', () => {
  it('declares only known keys, each with a value of its declared type', () => {
    const bad: string[] = [];
    const servers = KEYS.SERVERS.default.split(',');
    for (const [k, v] of Object.entries(values)) {
      const decl = declOf(k as ConfigKey, servers, KEYS.MGMT_SUBNET.default);
      if (!decl) {
        bad.push(`${k}: not declared in lib/config/keys.ts (nor a key of a default server)`);
        continue;
      }
      try {
        parseByType(decl.type, v);
      } catch (e) {
        bad.push(`${k}=${v}: ${(e as Error).message}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('loads as a whole as the hardware overlay and selects TESTBED=hw', () => {
    const { config, origins, mode } = loadConfig({ cwd: repo, configFile: 'config_hw.env.example', env: {} });
    expect(config.TESTBED).toBe('hw');
    expect(mode.testbed).toBe('hw');
    expect(origins.TESTBED).toMatch(/^config_hw\.env\.example:\d+$/);
    for (const k of Object.keys(values) as ConfigKey[]) expect(origins[k], k).toMatch(/^config_hw\.env\.example:\d+$/);
  });

  it('sets every hardware key, in the published testbed layout', () => {
    const { config } = loadConfig({ cwd: repo, configFile: 'config_hw.env.example', env: {} });
    const hwKeys: ConfigKey[] = [
      'TESTBED',
      'ARCH',
      'TOFINO_SSH',
      'LAKEWOOD_SSH',
      'LOVELAND_SSH',
      'SSH_KEY',
      'SSH_KNOWN_HOSTS',
      'REMOTE_PROJECT_DIR',
      'LAKEWOOD_NIC',
      'LOVELAND_NIC',
      'LAKEWOOD_DIRECT_IF',
      'LOVELAND_DIRECT_IF',
      'LAKEWOOD_DIRECT_IP',
      'LOVELAND_DIRECT_IP',
      'LAKEWOOD_SW_PORT',
      'LOVELAND_SW_PORT',
      'HW_SUBNET',
      'HW_GATEWAY',
      'CONTROLLER_PORT',
      'CONTROLLER_LISTEN',
      'BFRT_GRPC_ADDR',
      'SDE',
      'SDE_INSTALL',
      'SWITCHD_CONF',
      'CHECKPOINT_DIR',
    ];
    expect(hwKeys.filter((k) => !(k in values))).toEqual([]);
    expect(config).toMatchObject({
      LAKEWOOD_NIC: 'enp101s0np1',
      LOVELAND_NIC: 'enp101s0np1',
      LAKEWOOD_DIRECT_IF: 'enp179s0f0np0',
      LAKEWOOD_DIRECT_IP: '192.168.10.2',
      LOVELAND_DIRECT_IF: 'enp179s0f0',
      LOVELAND_DIRECT_IP: '192.168.10.3',
      LAKEWOOD_SW_PORT: 140,
      LOVELAND_SW_PORT: 148,
      HW_SUBNET: '192.168.12.0/24',
      CONTROLLER_PORT: 5000,
      BFRT_GRPC_ADDR: '127.0.0.1:50052',
      ARCH: 'tf1',
    });
    // Documentation host names only, and real SSH targets (not the local testbed's defaults).
    const defaults = loadConfig({ env: {}, files: false });
    for (const k of ['TOFINO_SSH', 'LAKEWOOD_SSH', 'LOVELAND_SSH'] as const) {
      expect(config[k].host).toMatch(/\.example$/);
      expect(values[k]).not.toBe(defaults.raw[k]);
    }
  });

  it('has a comment for every key', () => {
    const lines = text.split('\n');
    const uncommented: string[] = [];
    lines.forEach((line, i) => {
      const m = /^([A-Z0-9_]+)=/.exec(line);
      if (!m) return;
      // Walk up over the key lines of the same block to its comment.
      let j = i - 1;
      while (j >= 0 && /^[A-Z0-9_]+=/.test(lines[j])) j--;
      if (j < 0 || !lines[j].startsWith('#') || /^# ---/.test(lines[j])) uncommented.push(m[1]);
    });
    expect(uncommented).toEqual([]);
  });

  it('gives lib/modes/hw/sde.ts a switchd command for the hardware layout', () => {
    const { config } = loadConfig({ cwd: repo, configFile: 'config_hw.env.example', env: {} });
    expect(switchdCommand(config)).toBe(
      '/opt/open-p4studio/install/bin/bf_switchd --background --status-port 7777 ' +
        '--install-dir /opt/open-p4studio/install --conf-file /opt/p4cf/tofino/conf/tna_load_balancer.conf',
    );
  });
});
