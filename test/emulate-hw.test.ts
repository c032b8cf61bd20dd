// The emulated lab of `testbed.ts up --emulate-hw`. Without root: the overlay it writes loads as a
// hardware config with a non-root user, and its dry-run plan differs from config_hw.env.example's
// only in values. As root (p4tb- prefix, own subnet and state dir): the lab user logs in with the
// testbed key and has passwordless sudo, root logins are refused, the bf_switchd stand-in refuses
// what the real one refuses and serves BF Runtime gRPC on good arguments, the bf-p4c stand-in is
// strict, and `down` leaves nothing of it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { createSshHost } from '../lib/hosts/ssh.ts';
import type { Host } from '../lib/hosts/types.ts';
import { HUGEPAGES, hwEmulationLayout, overlayText } from '../lib/modes/local/emulate-hw.ts';
import { testbedDown, testbedLayout, testbedUp, TestbedError, type TestbedConfig } from '../lib/modes/local/testbed.ts';
import { rawClient } from '../p4/model/raw-client.ts';
import { normalisePlan } from './helpers/plan.ts';
import { isRoot } from './helpers/env.ts';
import { projectDir } from './helpers/runner.ts';

const example = readFileSync(join(projectDir, 'config_hw.env.example'), 'utf8');

describe('the emulated lab overlay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p4tb-overlay-'));
  const base = loadConfig({ cwd: projectDir, env: {} }).config;
  const L = testbedLayout(base, { projectDir, stateDir: dir });
  const overlay = join(dir, 'config_hw.env');
  writeFileSync(overlay, overlayText(example, base, L));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads as TESTBED=hw with the non-root lab user on every host', () => {
    const { config, mode } = loadConfig({ cwd: projectDir, configFile: overlay, env: {} });
    expect(mode.testbed).toBe('hw');
    for (const k of ['TOFINO_SSH', 'LAKEWOOD_SSH', 'LOVELAND_SSH'] as const) expect(config[k].user).toBe('p4cf-lab');
    expect(config.SDE_INSTALL).toBe('/opt/p4cf-lab/open-p4studio/install');
  });

  it('plans the same commands as config_hw.env.example, differing only in values', () => {
    const dry = (cfg: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'experiments/run.ts', '--dry-run', '--migrations', '2', '--config', cfg], {
        cwd: projectDir,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
        encoding: 'utf8',
        timeout: 120_000,
      });
    const a = dry('config_hw.env.example');
    const b = dry(overlay);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    // each value of the emulated lab mapped back to the example's
    const direct: Record<string, string> = { lakewood: 'enp179s0f0np0', loveland: 'enp179s0f0' };
    const back = (plan: string) =>
      plan
        .split('\n')
        .slice(1)
        .map((l) => {
          const host = /^\[(lakewood|loveland)\]/.exec(l)?.[1] ?? /^\[build\] direct link on (lakewood|loveland):/.exec(l)?.[1];
          let x = l
            .replace(/\/home\/p4cf-lab\/p4cf\/(\w+)\/checkpoints/g, '/var/tmp/p4cf/$1/checkpoints')
            .replaceAll('/home/p4cf-lab/p4cf/', '/opt/p4cf/')
            .replaceAll('/opt/p4cf-lab/open-p4studio', '/opt/open-p4studio')
            .replaceAll('/opt/p4cf-lab/dev/bf0', '/dev/bf0')
            .replaceAll('p4cf-nic', 'enp101s0np1')
            // a daemon's fingerprint hashes its command, whose paths differ
            .replace(/(<start-time>) [0-9a-f]{16}(' > )/, '$1 <fingerprint>$2');
          if (host) x = x.replaceAll('p4cf-direct', direct[host]);
          return x;
        })
        .join('\n');
    expect(back(normalisePlan(b.stdout + b.stderr))).toBe(back(normalisePlan(a.stdout + a.stderr)));
  }, 240_000);
});

// ---------------------------------------------------------------------------------------------

if (!isRoot)
  console.warn('SKIPPED emulated lab tests: they need root (namespaces, users, sudoers, hugepages); run the tests as root');

const P = 'p4tb-';
const sh = (argv: string[]): string => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });
const hugepages = (): number => Number(/^HugePages_Total:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);

describe.skipIf(!isRoot)('emulated lab (root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p4tb-emulate-'));
  const config = loadConfig({
    cwd: dir,
    env: {
      TESTBED_PREFIX: P,
      MGMT_SUBNET: '10.198.5.0/24',
      TOFINO_SSH: 'root@10.198.5.2:22',
      LAKEWOOD_SSH: 'root@10.198.5.3:22',
      LOVELAND_SSH: 'root@10.198.5.4:22',
      SSH_KEY: join(dir, 'ssh/id_ed25519'),
      SSH_KNOWN_HOSTS: join(dir, 'ssh/known_hosts'),
      LAKEWOOD_NIC: `${P}nic`,
      LOVELAND_NIC: `${P}nic`,
      LAKEWOOD_DIRECT_IF: `${P}direct`,
      LOVELAND_DIRECT_IF: `${P}direct`,
    },
  }).config as TestbedConfig;
  const opts = {
    projectDir,
    stateDir: join(dir, 'state'),
    prerequisites: false,
    log: (m: string) => console.log(`[testbed] ${m}`),
  };
  const L = testbedLayout(config, opts);
  const E = hwEmulationLayout(L);
  const tofinoIp = L.hosts[0].mgmtIp;
  const hugepagesBefore = hugepages();
  const hosts: Host[] = [];
  const login = (user: string): Host => {
    // SUDO=never: these commands run as the login user; the ones that need root say `sudo -n` themselves
    const o = {
      name: 'tofino',
      target: { user, host: tofinoIp, port: 22 },
      privateKeyPath: L.sshKey,
      knownHostsPath: L.knownHosts,
      connectTimeoutMs: 5000,
      sudo: 'never' as const,
    };
    const h = createSshHost(o);
    hosts.push(h);
    return h;
  };
  let lab: Host;
  const switchd = (args: string, sudo = true) =>
    lab.exec(`cd /tmp && ${sudo ? 'sudo -n ' : ''}${E.sdeInstall}/bin/bf_switchd ${args} 2>&1`, {
      quiet: true,
      allowFail: true,
      timeoutMs: 20_000,
    });
  const conf = (name: string) => `${E.home}/${name}`;
  const good = () => `--background --status-port 7777 --install-dir ${E.sdeInstall} --conf-file ${conf('tna.conf')}`;

  beforeAll(async () => {
    await testbedUp(config, { ...opts, emulateHw: true });
    lab = login(E.user);
    const confText = readFileSync(join(projectDir, 'p4/conf/tna_load_balancer.conf'), 'utf8');
    await lab.exec(`cat > ${conf('tna.conf')}`, { stdin: confText, quiet: true });
    await lab.exec(`cat > ${conf('bad-context.conf')}`, {
      stdin: confText.replace('pipe/context.json', 'pipe/missing-context.json'),
      quiet: true,
    });
    await lab.exec(`cat > ${conf('model.conf')}`, {
      stdin: readFileSync(join(projectDir, 'p4/conf/tna_load_balancer.model.conf'), 'utf8'),
      quiet: true,
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await testbedDown(config, opts).catch((e) => console.warn(`cleanup: ${(e as Error).message}`));
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in as the non-root lab user with the testbed key, with passwordless sudo', async () => {
    expect((await lab.exec('id -u', { quiet: true })).stdout.trim()).not.toBe('0');
    expect((await lab.exec('id -un', { quiet: true })).stdout.trim()).toBe(`${P}lab`);
    expect((await lab.exec('sudo -n true', { quiet: true, allowFail: true })).code).toBe(0);
    expect((await lab.exec('sudo -n id -u', { quiet: true })).stdout.trim()).toBe('0');
  });

  it('refuses root logins, and a plain up while dressed as the lab', async () => {
    await expect(login('root').exec('true', { quiet: true })).rejects.toThrow();
    await expect(testbedUp(config, opts)).rejects.toThrow(TestbedError);
  });

  it('writes an overlay that loads as TESTBED=hw with the lab user', () => {
    const { config: c, mode } = loadConfig({ cwd: projectDir, configFile: E.overlay, env: {} });
    expect(mode.testbed).toBe('hw');
    expect([c.TOFINO_SSH.user, c.LAKEWOOD_SSH.user, c.LOVELAND_SSH.user]).toEqual([`${P}lab`, `${P}lab`, `${P}lab`]);
    expect(c.TOFINO_SSH.host).toBe(tofinoIp);
    expect(c.SDE).toBe(E.sde);
  });

  it('bf_switchd refuses bad arguments, missing conf paths, no root and missing hugepages', async () => {
    expect((await switchd('--background --bogus')).stdout).toMatch(/Unknown option '--bogus'/);
    expect((await switchd('--background --bogus')).code).toBe(1);
    const noConf = await switchd(`--background --install-dir ${E.sdeInstall}`);
    expect(noConf.stdout).toMatch(/--install-dir and --conf-file must be specified/); // the real one exits 0 here
    expect((await switchd(`--install-dir ${E.sdeInstall} --conf-file ${conf('tna.conf')}`)).stdout).toMatch(/no --background/);
    expect(
      (await switchd(`--background --status-port 7x7 --install-dir ${E.sdeInstall} --conf-file ${conf('tna.conf')}`)).stdout,
    ).toMatch(/--status-port "7x7"/);
    expect((await switchd(`--background --install-dir /tmp --conf-file ${conf('tna.conf')}`)).stdout).toMatch(
      /\/tmp\/bin does not exist/,
    );
    const ctx = await switchd(`--background --install-dir ${E.sdeInstall} --conf-file ${conf('bad-context.conf')}`);
    expect(ctx.code).toBe(1);
    expect(ctx.stdout).toContain(`${E.sdeInstall}/share/tofinopd/tna_load_balancer/pipe/missing-context.json does not exist`);
    expect((await switchd(`--background --install-dir ${E.sdeInstall} --conf-file ${conf('model.conf')}`)).stdout).toMatch(
      /virtual/,
    );
    const user = await switchd(good(), false);
    expect(user.stdout).toMatch(/cannot open device .*bf0: EACCES/);
    writeFileSync('/proc/sys/vm/nr_hugepages', '0');
    try {
      expect((await switchd(good())).stdout).toMatch(new RegExp(`HugePages_Total is 0 .* need at least ${HUGEPAGES}`));
    } finally {
      writeFileSync('/proc/sys/vm/nr_hugepages', String(HUGEPAGES));
    }
  }, 60_000);

  it('bf_switchd serves BF Runtime gRPC on good arguments and refuses a second one on the held device', async () => {
    const log = `${E.home}/switchd.log`;
    const pid = Number(
      (
        await lab.exec(`sudo -n setsid nohup ${E.sdeInstall}/bin/bf_switchd ${good()} >${log} 2>&1 </dev/null & echo $!`, {
          quiet: true,
        })
      ).stdout.trim(),
    );
    try {
      let out = '';
      for (let i = 0; i < 100 && !out.includes('BF_RT gRPC server ready'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        out = (await lab.exec(`cat ${log}`, { quiet: true })).stdout;
      }
      expect(out).toContain('BF_RT gRPC server ready port 50052 program tna_load_balancer');
      // found by name like the real one, its command line naming the conf (and so the program)
      const found = (
        await lab.exec('for p in $(pgrep -x bf_switchd); do tr "\\0" " " < /proc/$p/cmdline; echo; done', { quiet: true })
      ).stdout;
      expect(found).toContain(`--conf-file ${conf('tna.conf')}`);
      const c = rawClient(`${tofinoIp}:50052`, 1);
      try {
        await c.subscribe();
        const info = JSON.parse((await c.getConfig()).config[0].bfruntime_info.toString());
        expect(info.tables.map((t: { name: string }) => t.name)).toContain('pipe.SwitchIngress.forward');
      } finally {
        c.close();
      }
      const second = await switchd(good());
      expect(second.code).toBe(1);
      expect(second.stdout).toMatch(/device .*bf0 is busy \(EBUSY\)/);
    } finally {
      await lab.exec(`sudo -n kill -TERM -- -${pid}`, { quiet: true, allowFail: true });
    }
  }, 60_000);

  it('bf-p4c builds only the load balancer, for the arch it is asked for', async () => {
    const p4c = (args: string) =>
      lab.exec(`cd /tmp && ${E.sdeInstall}/bin/bf-p4c ${args} 2>&1`, { quiet: true, allowFail: true });
    const out = `${E.home}/out`;
    const src = join(projectDir, 'p4', 'load_balancer.p4');
    await lab.exec(
      `mkdir -p ${E.home}/src && printf '#include "${src}"\\n' > ${E.home}/src/tna_load_balancer.p4 && cp ${E.home}/src/tna_load_balancer.p4 ${E.home}/src/t2na_load_balancer.p4 && printf 'control X() {}\\n' > ${E.home}/src/other.p4`,
      { quiet: true },
    );
    expect((await p4c(`--std p4-16 --target tofino --arch t2na -o ${out} ${E.home}/src/tna_load_balancer.p4`)).stdout).toMatch(
      /--arch t2na does not fit --target tofino/,
    );
    expect((await p4c(`--std p4-16 --target tofino --arch tna --frobnicate ${E.home}/src/tna_load_balancer.p4`)).code).toBe(1);
    expect((await p4c(`--std p4-16 --target tofino --arch tna -o ${out} ${E.home}/src/t2na_load_balancer.p4`)).stdout).toMatch(
      /builds tna_load_balancer only/,
    );
    expect((await p4c(`--std p4-16 --target tofino --arch tna -o ${out} ${E.home}/src/other.p4`)).code).toBe(1);
    const ok = await p4c(
      `--std p4-16 --target tofino --arch tna -o ${out} --bf-rt-schema ${out}/bf-rt.json -I ${join(projectDir, 'p4')} ${E.home}/src/tna_load_balancer.p4`,
    );
    expect(ok.code, ok.stdout).toBe(0);
    expect(JSON.parse((await lab.exec(`cat ${out}/bf-rt.json`, { quiet: true })).stdout)).toEqual(
      JSON.parse(readFileSync(join(projectDir, 'p4/tna_load_balancer.bf-rt.json'), 'utf8')),
    );
    expect(
      (
        await lab.exec(`test -f ${out}/pipe/context.json && test -f ${out}/pipe/tofino.bin && echo yes`, { quiet: true })
      ).stdout.trim(),
    ).toBe('yes');
  });

  it('down removes the user, sudoers drop-in, SDE tree, device, overlay, and restores hugepages', async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close()));
    const uid = sh(['id', '-u', E.user]).trim();
    await testbedDown(config, opts);
    expect(spawnSync('id', [E.user]).status).not.toBe(0);
    for (const p of [E.home, E.sudoers, E.labRoot, E.overlay, E.record, `/tmp/podman-run-${uid}`, `/tmp/containers-user-${uid}`])
      expect(existsSync(p), p).toBe(false);
    // zombies are gone already; only their reaping (by PID 1) may lag
    const live = sh(['ps', '-e', '-o', 'uid=,stat=,pid=,comm='])
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[0] === uid && !f[1]?.startsWith('Z'));
    expect(
      live.map((f) => f.join(' ')),
      'processes of the lab user left',
    ).toEqual([]);
    expect(hugepages()).toBe(hugepagesBefore);
  });
});
