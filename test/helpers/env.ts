// Shared test conditions.
import { readFileSync } from 'node:fs';
export const isRoot = process.getuid?.() === 0;

/** Call in a describe.skipIf(!isRoot) file so the skip reason is printed, not silent. */
export function warnIfNotRoot(what: string): void {
  if (!isRoot) console.warn(`SKIPPED ${what}: needs root (namespaces, sshd); run the tests as root`);
}

/**
 * Whether a process runs: it exists and is not a zombie. A killed orphan can stay a zombie until
 * PID 1 reaps it (about every 2 s in this sandbox), and `kill(pid, 0)` still succeeds on it.
 */
export function isRunning(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
