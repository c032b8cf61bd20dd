// vitest globalSetup: as root, make sure the machine prerequisites are installed (printing what is
// installed or already present) before any test needs podman, CRIU or sshd; otherwise say why the
// root-only tests will skip.
import { ensurePrerequisites } from '../lib/modes/local/prereqs.ts';

export async function setup(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.warn(
      '[global-setup] not root: prerequisites are not checked and root-only tests (namespaces, sshd, podman, CRIU) will skip',
    );
    return;
  }
  await ensurePrerequisites({ log: (m) => console.log(`[global-setup] prerequisites: ${m}`) });
}
