// Shared test conditions.
export const isRoot = process.getuid?.() === 0;

/** Call in a describe.skipIf(!isRoot) file so the skip reason is printed, not silent. */
export function warnIfNotRoot(what: string): void {
  if (!isRoot) console.warn(`SKIPPED ${what}: needs root (namespaces, sshd); run the tests as root`);
}
