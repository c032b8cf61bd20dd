// The host handle every phase talks to: one per testbed machine, the same API whether it is an SSH
// connection (ssh.ts), this machine (local.ts) or a dry-run recorder (dryrun.ts).
import type { Cleanup } from '../run/cleanup.ts';
import type { Logger } from '../run/log.ts';

/** A server: one of the config's SERVERS (lakewood, loveland, … ; checked when the config loads). */
export type ServerName = string;
export type HostName = 'tofino' | 'local' | ServerName;

/** SUDO: how commands that need root are run. auto = through `sudo -n` when the login user is not root. */
export type SudoMode = 'auto' | 'always' | 'never';

export interface ExecOpts {
  /**
   * Run through `sudo -n`. Default: the host's policy (SUDO and the login user); false runs the
   * command as the login user (e.g. `sudo -n true` itself); true: it needs root (no sudo when the
   * login user is root).
   */
  sudo?: boolean;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string | Buffer;
  timeoutMs?: number;
  quiet?: boolean;
  allowFail?: boolean;
  /** The run's abort signal: an aborted signal refuses to start the command and ends a running one. */
  signal?: AbortSignal;
  /**
   * Dry run only (real hosts ignore it): what the command would print, so a caller that parses
   * the output goes on planning. A `<… pid>` placeholder (e.g. '<switchd pid>') becomes a number
   * that can never be a real PID and is printed back as the placeholder in the plan.
   */
  dryRunStdout?: string;
}
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}
export interface BackgroundOpts {
  name: string;
  logFile: string;
  cwd?: string;
  env?: Record<string, string>;
}
export interface BackgroundProc {
  pid: number;
  stop(): Promise<void>;
}
export interface Forward {
  localPort: number;
  close(): Promise<void>;
}

export interface Host {
  name: string;
  /** True when commands run through `sudo -n` unless told otherwise (ExecOpts.sudo). */
  readonly sudo?: boolean;
  exec(cmd: string, opts?: ExecOpts): Promise<ExecResult>;
  upload(localPath: string, remotePath: string): Promise<void>;
  download(remotePath: string, localPath: string): Promise<void>;
  background(cmd: string, opts: BackgroundOpts): Promise<BackgroundProc>;
  forward(remotePort: number, remoteHost?: string, localPort?: number): Promise<Forward>;
  close(): Promise<void>;
}

export interface HostDeps {
  log?: Logger;
  cleanup?: Cleanup;
}

/** Whether a login user runs root commands through sudo under SUDO=mode. */
export function usesSudo(mode: SudoMode, user: string): boolean {
  return mode === 'always' || (mode === 'auto' && user !== 'root');
}
