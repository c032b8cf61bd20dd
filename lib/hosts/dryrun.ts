// Dry run: a host that runs nothing, and the plan it records — every step each host would run,
// in order, printed as `[host] $ cmd` (the hardware plan is snapshotted in test/__snapshots__).
import { asUndo, registerForward } from './exec.ts';
import type { Host, HostDeps } from './types.ts';

export interface PlanStep {
  host: string;
  kind: 'exec' | 'upload' | 'download' | 'background' | 'forward' | 'http';
  text: string;
}
export interface Plan {
  steps: PlanStep[];
  byHost(): Record<string, string[]>;
  /** Record and print one step; also used for steps that are not host commands (controller HTTP calls). */
  record(host: string, kind: PlanStep['kind'], text: string, print?: (line: string) => void): void;
  /** A stand-in PID for `label` (e.g. '<switchd pid>'); printed back as the label. */
  fakePid(label: string): number;
}

// Above Linux's PID_MAX_LIMIT (2^22): a stand-in can never be mistaken for a real process.
const FAKE_PID_BASE = 9_000_000;

export function createPlan(print: (line: string) => void = (l) => process.stdout.write(l + '\n')): Plan {
  const steps: PlanStep[] = [];
  const labels = new Map<number, string>();
  const readable = (text: string) => (labels.size ? text.replace(/\b9\d{6}\b/g, (n) => labels.get(Number(n)) ?? n) : text);
  return {
    steps,
    byHost() {
      const out: Record<string, string[]> = {};
      for (const s of steps) (out[s.host] ??= []).push(s.text);
      return out;
    },
    record(host, kind, raw, printer = print) {
      const text = readable(raw);
      steps.push({ host, kind, text });
      printer(`[${host}] ${kind === 'exec' ? '$ ' : ''}${text.split('\n').join(`\n[${host}]   `)}`);
    },
    fakePid(label) {
      const pid = FAKE_PID_BASE + labels.size + 1;
      labels.set(pid, label);
      return pid;
    },
  };
}

export interface DryRunHostOptions extends HostDeps {
  /** Replaces the plan's printer for this host's lines (tests). */
  print?: (line: string) => void;
  /** The host's sudo policy, shown as a `sudo -n ` prefix on the commands it would apply to. */
  sudo?: boolean;
}

/**
 * A host that runs nothing: prints `[host] $ cmd` and records every step in `plan`. exec answers
 * `opts.dryRunStdout` (default empty) with exit 0; background processes get stand-in PIDs and,
 * as on a real host, an undo in `deps.cleanup`, so the plan ends with the stops a run would do.
 */
export function createDryRunHost(
  name: string,
  plan: Plan,
  print?: ((line: string) => void) | DryRunHostOptions,
  deps: HostDeps = {},
): Host {
  const o: DryRunHostOptions = typeof print === 'function' ? { ...deps, print } : { ...deps, ...print };
  const rec = (kind: PlanStep['kind'], text: string) => plan.record(name, kind, text, o.print);
  const sudo = Boolean(o.sudo);
  const host: Host = {
    name,
    sudo,
    async exec(cmd, opts = {}) {
      rec('exec', `${(opts.sudo ?? sudo) ? 'sudo -n ' : ''}${opts.cwd ? `(cd ${opts.cwd}) ` : ''}${cmd}`);
      const stdout = (opts.dryRunStdout ?? '').replace(/<[^<>]*\bpid>/g, (label) => String(plan.fakePid(label)));
      return { stdout, stderr: '', code: 0 };
    },
    async upload(l, r) {
      rec('upload', `upload ${l} → ${r}`);
    },
    async download(r, l) {
      rec('download', `download ${r} → ${l}`);
    },
    async background(cmd, bo) {
      rec('background', `background ${bo.name}: ${sudo ? 'sudo -n ' : ''}${cmd} > ${bo.logFile}`);
      const label = `<${bo.name} pid>`;
      const pid = plan.fakePid(label);
      const stop = asUndo(o, `stop ${bo.name} on ${name}`, async () => {
        rec('exec', `stop ${bo.name}: kill -TERM -${label}, then -KILL after 5 s (only if its start time still matches)`);
      });
      return { pid, stop };
    },
    async forward(remotePort, remoteHost = '127.0.0.1', localPort = 0) {
      rec('forward', `forward localhost:${localPort || '<free port>'} → ${remoteHost}:${remotePort}`);
      const close = async () => {
        rec('forward', `close forward localhost:${localPort || '<free port>'}`);
      };
      return registerForward(name, o, { localPort, close }, `${remoteHost}:${remotePort}`);
    },
    async close() {},
  };
  return host;
}
