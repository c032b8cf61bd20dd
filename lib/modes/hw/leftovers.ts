// Leftovers of other tools on the lab hosts — the bash scripts' stream-server container holding
// the server address, the Python controller on the controller port, a `make switch` bf_switchd,
// their macvlan shim — that would give an IP conflict, a bind error or a second switchd. Found
// before anything changes (preflight refuses with one message naming each and the command that
// removes them), removed on request by `experiments/clean.ts --foreign`. Only what this project
// did not make counts: its containers carry the p4cf label, its daemons a PID file, its shim the
// link alias SHIM_ALIAS.
import { loadgenHost } from '../../migration/schedule.ts';
import { programForArch } from '../../../p4/assets.ts';
import type { Config } from '../../config/keys.ts';
import { recordedPid } from '../../hosts/daemons.ts';
import { hostDir } from '../../config/load.ts';
import { quote, sh } from '../../hosts/quote.ts';
import type { Host, HostName } from '../../hosts/types.ts';
import { processesNamed, SWITCHD_NAME, SWITCHD_PROCESS } from './switchd.ts';

/** Alias the build phase puts on its shim (lib/server/infra.ts shimScript). */
const SHIM_ALIAS = 'p4cf';
const CONTROLLER_PID_NAME = 'controller';

export interface Leftover {
  host: Exclude<HostName, 'local'>;
  kind: 'container' | 'listener' | 'switchd' | 'shim';
  /** One line naming it: container name and id, PID and command line, interface and address. */
  what: string;
  /** The command that removes it, as shown to the user. */
  removeCommand: string;
  /** What clean --foreign runs (re-checks that it is still the same thing). */
  removeScript: string;
  /** A bf_switchd serving this config's program: the switchd phase adopts it; not refused. */
  adoptable: boolean;
}

type Ctx = { config: Config; host(name: HostName): Host };

interface ContainerRow {
  id: string;
  name: string;
  label: string;
  ips: string[];
}

/** Output of the inspect template in containerScript: `id|name|p4cf label|ip,ip,`. */
export function parseContainers(text: string): ContainerRow[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [id = '', name = '', label = '', ips = ''] = l.split('|');
      return {
        id,
        name: name.replace(/^\//, ''),
        label,
        ips: ips
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      };
    })
    .filter((r) => r.id);
}

const containerScript = [
  'command -v podman >/dev/null 2>&1 || exit 0',
  `for c in $(podman ps -q); do podman inspect --format '{{.Id}}|{{.Name}}|{{index .Config.Labels "p4cf"}}|{{range .NetworkSettings.Networks}}{{.IPAddress}},{{end}}' "$c"; done`,
].join('\n');

/** TERM a process if it still has the start time seen when it was found; KILL after 10 s. */
function killScript(pid: number, startTime: string): string {
  return [
    `p=${pid}`,
    `st() { awk '{ sub(/^.*\\) /, ""); print $1, $20 }' /proc/$p/stat 2>/dev/null; }`,
    sh`case "$(st)" in *' '${startTime}) ;; *) echo "pid $p is gone or was reused: left alone"; exit 0 ;; esac`,
    'kill -TERM $p',
    'i=0; while [ $i -lt 100 ]; do case "$(st)" in ""|Z*) echo "stopped pid $p"; exit 0 ;; esac; sleep 0.1; i=$((i+1)); done',
    'kill -KILL $p; echo "killed pid $p"',
  ].join('\n');
}

async function startTimeAndCmdline(host: Host, pid: number): Promise<{ start: string; cmdline: string }> {
  const r = await host.exec(
    `awk '{ sub(/^.*\\) /, ""); print $20 }' /proc/${pid}/stat 2>/dev/null; tr '\\0' ' ' < /proc/${pid}/cmdline 2>/dev/null`,
    { quiet: true, allowFail: true },
  );
  const [start = '', ...rest] = r.stdout.split('\n');
  return { start: start.trim(), cmdline: rest.join(' ').trim() };
}

async function containers(c: Config, host: Host, name: Leftover['host']): Promise<Leftover[]> {
  const r = await host.exec(containerScript, { quiet: true, allowFail: true });
  return parseContainers(r.stdout)
    .filter((row) => row.ips.includes(c.H2_IP) && row.label !== '1')
    .map((row) => ({
      host: name,
      kind: 'container' as const,
      adoptable: false,
      what: `container ${row.name} (${row.id.slice(0, 12)}) holds ${c.H2_IP} (H2_IP) and was not made by p4cf (no p4cf label)`,
      removeCommand: sh`podman rm -f ${row.id.slice(0, 12)}`,
      removeScript: sh`podman rm -f -t 1 ${row.id} >/dev/null && echo ${`removed container ${row.name} (${row.id.slice(0, 12)})`}`,
    }));
}

async function listeners(c: Config, tofino: Host, dir: string): Promise<Leftover[]> {
  const own = await recordedPid(tofino, dir, CONTROLLER_PID_NAME);
  const r = await tofino.exec(`ss -Htlnp ${quote(`sport = :${c.CONTROLLER_PORT}`)}`, { quiet: true, allowFail: true });
  const pids = [...new Set([...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))].filter((p) => p !== own);
  const out: Leftover[] = [];
  for (const pid of pids) {
    const { start, cmdline } = await startTimeAndCmdline(tofino, pid);
    out.push({
      host: 'tofino',
      kind: 'listener',
      adoptable: false,
      what: `pid ${pid} (${cmdline || '?'}) listens on the controller port ${c.CONTROLLER_PORT} (CONTROLLER_PORT) and is not p4cf's controller`,
      removeCommand: `kill ${pid}`,
      removeScript: killScript(pid, start),
    });
  }
  return out;
}

async function switchds(c: Config, tofino: Host, dir: string): Promise<Leftover[]> {
  const own = await recordedPid(tofino, dir, SWITCHD_NAME);
  const program = programForArch(c.ARCH);
  const out: Leftover[] = [];
  for (const p of await processesNamed(tofino, SWITCHD_PROCESS, own)) {
    const { start } = await startTimeAndCmdline(tofino, p.pid);
    const adoptable = p.cmdline.includes(program);
    out.push({
      host: 'tofino',
      kind: 'switchd',
      adoptable,
      what:
        `pid ${p.pid} (${p.cmdline}) is a ${SWITCHD_PROCESS} p4cf did not start` +
        (adoptable
          ? ` serving ${program}: the switchd phase adopts it (never stops it)`
          : `, and its command line does not name ${program} (ARCH=${c.ARCH}): p4cf cannot start its own beside it (the device is busy)`),
      removeCommand: `kill ${p.pid}`,
      removeScript: killScript(p.pid, start),
    });
  }
  return out;
}

async function shims(c: Config, lg: Host): Promise<Leftover[]> {
  // ip, not /sys/class/net: sysfs shows the network namespace of whoever mounted it
  const r = await lg.exec(
    [
      'ip -d -o link show type macvlan 2>/dev/null | while IFS= read -r l; do',
      `  n=$(printf "%s\\n" "$l" | sed -n 's/^[0-9]*: \\([^@:]*\\).*/\\1/p'); a=$(printf "%s\\n" "$l" | sed -n 's/.*\\\\ *alias \\(.*\\)$/\\1/p')`,
      `  echo "$n|$a|$(ip -o -4 addr show dev "$n" | awk '{print $4}' | tr '\\n' ',')"`,
      'done',
    ].join('\n'),
    { quiet: true, allowFail: true },
  );
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'))
    .filter(
      ([n, alias, ips = '']) =>
        n && alias.trim() !== SHIM_ALIAS && (n === c.MACSHIM_IF || ips.split(',').some((a) => a.split('/')[0] === c.SHIM_IP)),
    )
    .map(([n, , ips = '']) => ({
      host: lg.name,
      kind: 'shim' as const,
      adoptable: false,
      what: `macvlan ${n}${ips ? ` (${ips.replace(/,$/, '')})` : ''} was not made by p4cf (MACSHIM_IF=${c.MACSHIM_IF}, SHIM_IP=${c.SHIM_IP})`,
      removeCommand: sh`ip link del ${n}`,
      removeScript: sh`ip link del ${n} && echo ${`removed ${n}`}`,
    }));
}

/** Everything of other tools on the hosts that a run would collide with (or adopt). */
export async function findLeftovers(ctx: Ctx): Promise<Leftover[]> {
  const c = ctx.config;
  const dir = hostDir(c.REMOTE_PROJECT_DIR, 'tofino');
  const tofino = ctx.host('tofino');
  const found = await Promise.all([
    switchds(c, tofino, dir).then(async (s) => [...s, ...(await listeners(c, tofino, dir))]),
    ...c.SERVERS.map((s) => containers(c, ctx.host(s), s)),
    shims(c, ctx.host(loadgenHost(c))),
  ]);
  return found.flat();
}

const CLEAN_FOREIGN = 'npx tsx experiments/clean.ts --foreign';

function leftoverList(list: Leftover[]): string {
  return list.map((l) => `  - [${l.host}] ${l.what}\n      remove: ${l.removeCommand}`).join('\n');
}

/** Other tools' leftovers a run would collide with; the message names each and how to remove them. */
export class ForeignLeftoversError extends Error {
  constructor(readonly leftovers: Leftover[]) {
    super(
      `found what other tools left on the testbed; a run would collide with it (IP conflict, bind error or a second switchd), so nothing was changed:\n` +
        `${leftoverList(leftovers)}\nremove them all (after a listing and a question) with: ${CLEAN_FOREIGN} [--config FILE]`,
    );
    this.name = 'ForeignLeftoversError';
  }
}

/** Preflight's check: refuse on leftovers a run would collide with; an adoptable switchd only warns. */
export async function refuseLeftovers(ctx: Ctx & { log: { warn(m: string): void } }): Promise<void> {
  const all = await findLeftovers(ctx);
  for (const l of all.filter((x) => x.adoptable)) ctx.log.warn(`preflight: [${l.host}] ${l.what}`);
  const bad = all.filter((x) => !x.adoptable);
  if (bad.length) throw new ForeignLeftoversError(bad);
}

export interface RemoveOptions {
  /** Remove without asking (--yes). */
  yes: boolean;
  /** Ask on the terminal; undefined without a TTY, and then only --yes removes. */
  ask?: (question: string) => Promise<boolean>;
  /** Also stop a bf_switchd the switchd phase would adopt (--switchd). */
  includeAdoptable: boolean;
  say: (line: string) => void;
}

/** The user declined, or there was no terminal to ask and no --yes. */
export class NotConfirmedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotConfirmedError';
  }
}

/**
 * clean.ts --foreign: list the leftovers, ask (unless --yes), remove each on its host. Returns
 * what was removed; throws NotConfirmedError (nothing removed) when not confirmed.
 */
export async function removeLeftovers(ctx: Ctx, o: RemoveOptions): Promise<Leftover[]> {
  const all = await findLeftovers(ctx);
  const kept = all.filter((l) => l.adoptable && !o.includeAdoptable);
  const todo = all.filter((l) => !kept.includes(l));
  for (const l of kept) o.say(`kept: [${l.host}] ${l.what} (add --switchd to stop it too)`);
  if (!todo.length) {
    o.say('foreign: nothing of other tools found');
    return [];
  }
  o.say(`foreign: found ${todo.length} leftover(s) of other tools:\n${leftoverList(todo)}`);
  if (!o.yes) {
    if (!o.ask)
      throw new NotConfirmedError(
        'not removing without confirmation: no terminal to ask on; run again with --yes to remove the leftovers listed above',
      );
    if (!(await o.ask(`remove these ${todo.length}? [y/N] `))) throw new NotConfirmedError('not confirmed: nothing removed');
  }
  for (const l of todo) {
    const r = await ctx.host(l.host).exec(l.removeScript, { quiet: true, allowFail: true, timeoutMs: 30_000 });
    const said = (r.stdout + r.stderr).trim().split('\n').filter(Boolean).join('; ');
    o.say(`[${l.host}] ${r.code === 0 ? said || 'removed' : `FAILED (exit ${r.code}): ${said}`}: ${l.what}`);
  }
  return todo;
}
