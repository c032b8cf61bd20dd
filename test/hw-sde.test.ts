// The SDE environment and bf_switchd command line the switchd phase runs on a real switch.
import { describe, expect, it } from 'vitest';
import { KEYS, type Config } from '../lib/config/keys.ts';
import { sdeEnv, switchdCommand, switchdConfPath } from '../lib/modes/hw/sde.ts';

const base = {
  SDE: '/opt/open-p4studio',
  SDE_INSTALL: '/opt/open-p4studio/install',
  ARCH: 'tf1' as Config['ARCH'],
  SWITCHD_CONF: KEYS.SWITCHD_CONF.default,
  REMOTE_PROJECT_DIR: '/opt/p4cf/{host}',
};

describe('sdeEnv', () => {
  it('sets SDE, SDE_INSTALL and puts the install first in PATH and LD_LIBRARY_PATH', () => {
    const env = sdeEnv(base);
    expect(env.SDE).toBe('/opt/open-p4studio');
    expect(env.SDE_INSTALL).toBe('/opt/open-p4studio/install');
    expect(env.PATH.split(':')[0]).toBe('/opt/open-p4studio/install/bin');
    expect(env.PATH.split(':')).toContain('/usr/bin');
    expect(env.LD_LIBRARY_PATH.split(':')[0]).toBe('/opt/open-p4studio/install/lib');
    // Literal values: nothing left for a remote shell to expand.
    expect(Object.values(env).join('')).not.toMatch(/\$/);
  });

  it('refuses relative SDE paths, naming the key', () => {
    expect(() => sdeEnv({ ...base, SDE_INSTALL: 'install' })).toThrow(
      /SDE_INSTALL="install": expected an absolute path on the switch/,
    );
    expect(() => sdeEnv({ ...base, SDE: '' })).toThrow(/SDE="": expected an absolute path/);
  });
});

describe('switchdCommand', () => {
  it('starts bf_switchd in the background with the tf1 conf from the project dir on the switch', () => {
    expect(switchdCommand(base)).toBe(
      '/opt/open-p4studio/install/bin/bf_switchd --background --status-port 7777 ' +
        '--install-dir /opt/open-p4studio/install --conf-file /opt/p4cf/tofino/conf/tna_load_balancer.conf',
    );
  });

  it('follows ARCH=tf2 and an explicit project dir', () => {
    expect(switchdConfPath({ ...base, ARCH: 'tf2' }, '/srv/p4cf')).toBe('/srv/p4cf/conf/t2na_load_balancer.conf');
  });

  it('keeps an absolute conf and refuses a conf for the other generation', () => {
    expect(switchdConfPath({ ...base, SWITCHD_CONF: '/etc/p4cf/lb.conf' })).toBe('/etc/p4cf/lb.conf');
    expect(() => switchdConfPath({ ...base, ARCH: 'tf2', SWITCHD_CONF: 'conf/tna_load_balancer.conf' })).toThrow(
      /names tna_load_balancer, but ARCH=tf2 runs t2na_load_balancer/,
    );
    expect(() => switchdConfPath({ ...base, SWITCHD_CONF: 'conf/t2na_load_balancer.conf' })).toThrow(
      /ARCH=tf1 runs tna_load_balancer/,
    );
  });

  it('quotes paths with spaces in the command', () => {
    expect(switchdCommand({ ...base, SDE_INSTALL: '/opt/my sde/install' })).toMatch(
      /^'\/opt\/my sde\/install\/bin\/bf_switchd' --background .* --install-dir '\/opt\/my sde\/install' /,
    );
  });
});
