// Freezing the container's cgroup before CRIU dumps it. CRIU's freezer loop (cgroup v1) writes
// FROZEN and, when the first read back still says FREEZING, sleeps 100 ms before it looks again:
// measured here in 7 of 8 `podman container checkpoint` dumps (100.2 ms), never when the cgroup
// was already FROZEN (0 of 8). Freezing it ourselves and spinning on the state file (a few ms)
// skips that sleep; podman still sees a running container (it refuses paused ones) and CRIU
// leaves a cgroup it found frozen as it was.
import type { RawShell } from '../hosts/quote.ts';
import { quote } from '../hosts/quote.ts';

/**
 * Sets $frz to the freezer file of PID's cgroup (v1 freezer.state or v2 cgroup.freeze), freezes
 * it and waits (bounded: 2000 spins) until it reads frozen; prints `freeze frozen|timeout|n/a`.
 */
export function freezeScript(pid: RawShell | number): string {
  const p = quote(pid);
  return [
    `frz=; cg=$(sed -n 's/^[0-9]*:freezer:\\(.*\\)$/\\1/p' /proc/${p}/cgroup)`,
    'if [ -n "$cg" ] && [ -w "/sys/fs/cgroup/freezer$cg/freezer.state" ]; then frz="/sys/fs/cgroup/freezer$cg/freezer.state"; echo FROZEN > "$frz"',
    '  i=0; while [ "$(cat "$frz")" != FROZEN ] && [ $i -lt 2000 ]; do i=$((i+1)); done',
    '  if [ "$(cat "$frz")" = FROZEN ]; then echo "freeze frozen"; else echo "freeze timeout"; fi',
    `else cg=$(sed -n 's/^0::\\(.*\\)$/\\1/p' /proc/${p}/cgroup)`,
    '  if [ -n "$cg" ] && [ -w "/sys/fs/cgroup$cg/cgroup.freeze" ]; then frz="/sys/fs/cgroup$cg/cgroup.freeze"; echo 1 > "$frz"',
    '    i=0; while ! grep -qx "frozen 1" "/sys/fs/cgroup$cg/cgroup.events" && [ $i -lt 2000 ]; do i=$((i+1)); done',
    '    if grep -qx "frozen 1" "/sys/fs/cgroup$cg/cgroup.events"; then echo "freeze frozen"; else echo "freeze timeout"; fi',
    '  else echo "freeze n/a"; fi',
    'fi',
  ].join('\n');
}

/** Thaws what freezeScript froze (after a failed dump the server must run on). */
export const THAW = 'case "$frz" in *freezer.state) echo THAWED > "$frz";; *cgroup.freeze) echo 0 > "$frz";; esac';

/**
 * Prints `criu_freezer_wait_ms MS` from a CRIU dump log (a shell word): from its "freezing cgroup"
 * line to the first freezer.state=FROZEN it read — ~0 when the cgroup was already frozen, ~100 when
 * CRIU's loop slept. Prints nothing when the log lacks the lines.
 */
export function criuFreezerWaitCmd(logPath: string): string {
  return (
    `[ -r ${logPath} ] && awk '/freezing cgroup/ && !a { a = substr($1, 2) + 0 } ` +
    `a && /freezer.state=FROZEN/ { printf "criu_freezer_wait_ms %.1f\\n", (substr($1, 2) - a) * 1000; exit }' ${logPath} || true`
  );
}

export const parseFreezerWait = (stdout: string): number | undefined => {
  const m = stdout.match(/^criu_freezer_wait_ms (\d+(?:\.\d+)?)$/m);
  return m ? Number(m[1]) : undefined;
};
