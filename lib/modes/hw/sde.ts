// The SDE environment and the bf_switchd command line for the switchd phase on a real switch.
//
// Every SDE tool assumes SDE, SDE_INSTALL, LD_LIBRARY_PATH and PATH as open-p4studio's
// setup script and run_switchd.sh set them. run_switchd.sh itself is not used: it calls sudo,
// edits /etc/sysctl.conf for hugepages and reads the terminal (stty); the orchestrator wants one
// plain process whose PID it records. The values here are literal (no $PATH expansion) so the
// command behaves the same whatever the login shell on the switch exports.
import { isAbsolute, posix } from 'node:path';
import type { Config } from '../../config/keys.ts';
import { programForArch } from '../../../p4/assets.ts';
import { quote } from '../../hosts/quote.ts';

/** bf_switchd's status server port; run_switchd.sh's default. */
const SWITCHD_STATUS_PORT = 7777;

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type SdeConfig = Pick<Config, 'SDE' | 'SDE_INSTALL'>;
type SwitchdConfig = Pick<Config, 'SDE' | 'SDE_INSTALL' | 'ARCH' | 'SWITCHD_CONF' | 'REMOTE_PROJECT_DIR'>;

function absolute(key: string, value: string): string {
  if (!value || !isAbsolute(value)) {
    throw new Error(
      `${key}=${JSON.stringify(value)}: expected an absolute path on the switch (e.g. /opt/bf-sde${key === 'SDE_INSTALL' ? '/install' : ''})`,
    );
  }
  return posix.normalize(value).replace(/\/+$/, '') || '/';
}

/** Environment for bf_switchd, bf-p4c, bfshell and the kernel-module scripts on the switch. */
export function sdeEnv(config: SdeConfig): Record<string, string> {
  const sde = absolute('SDE', config.SDE);
  const install = absolute('SDE_INSTALL', config.SDE_INSTALL);
  return {
    SDE: sde,
    SDE_INSTALL: install,
    // lib64 covers RPM-style installs, /usr/local/lib the SDE's third-party dependencies (as run_switchd.sh adds).
    LD_LIBRARY_PATH: `${install}/lib:${install}/lib64:/usr/local/lib`,
    PATH: `${install}/bin:${SYSTEM_PATH}`,
  };
}

/**
 * The switchd conf on the switch for this ARCH. SWITCHD_CONF may contain `{program}`
 * (tna_load_balancer / t2na_load_balancer); a relative path is taken from the project folder on
 * the switch (REMOTE_PROJECT_DIR for host tofino, unless `projectDir` is given). A conf named for
 * the other Tofino generation is refused: switchd would load a program the ASIC cannot run.
 */
export function switchdConfPath(config: SwitchdConfig, projectDir?: string): string {
  const program = programForArch(config.ARCH);
  const other = programForArch(config.ARCH === 'tf1' ? 'tf2' : 'tf1');
  const conf = config.SWITCHD_CONF.replaceAll('{program}', program);
  if (!conf) throw new Error('SWITCHD_CONF is empty: expected the switchd conf file, e.g. conf/{program}.conf');
  const base = posix.basename(conf);
  if (base.includes(other)) {
    throw new Error(
      `SWITCHD_CONF=${config.SWITCHD_CONF} names ${other}, but ARCH=${config.ARCH} runs ${program}; use conf/{program}.conf or a conf for ${program}`,
    );
  }
  if (isAbsolute(conf)) return posix.normalize(conf);
  const dir = projectDir ?? config.REMOTE_PROJECT_DIR.replaceAll('{host}', 'tofino');
  return posix.join(absolute('REMOTE_PROJECT_DIR', dir), conf);
}

/**
 * The command that starts bf_switchd on the switch, to run with `sdeEnv(config)`:
 * `$SDE_INSTALL/bin/bf_switchd --background --status-port 7777 --install-dir $SDE_INSTALL --conf-file <conf>`.
 * `--background` keeps switchd from starting its interactive CLI on stdin. Paths in the conf
 * (bf-rt.json, context.json, tofino.bin, agent0 lib/libpltfm_mgr.so) are relative to --install-dir.
 */
export function switchdCommand(config: SwitchdConfig, opts: { projectDir?: string; statusPort?: number } = {}): string {
  const env = sdeEnv(config);
  const conf = switchdConfPath(config, opts.projectDir);
  return [
    `${env.SDE_INSTALL}/bin/bf_switchd`,
    '--background',
    '--status-port',
    String(opts.statusPort ?? SWITCHD_STATUS_PORT),
    '--install-dir',
    env.SDE_INSTALL,
    '--conf-file',
    conf,
  ]
    .map(quote)
    .join(' ');
}
