// Installs the machine prerequisites of the local testbed (packages, CRIU >= 4.2, CRIU and podman
// settings) and nothing else. Used by .ci/run and by users before the first run: `npx tsx experiments/setup.ts`.
// --force-criu-build [--criu-dir DIR] rebuilds CRIU even when a good one is present (exercises the build path).
import { ensurePrerequisites, PrereqError } from '../lib/modes/local/prereqs.ts';

const argv = process.argv.slice(2);
const usage = 'usage: npx tsx experiments/setup.ts [--force-criu-build [--criu-dir DIR]]';
let forceCriuBuild = false;
let criuInstallDir: string | undefined;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--force-criu-build') forceCriuBuild = true;
  else if (a === '--criu-dir' && argv[i + 1]) criuInstallDir = argv[++i];
  else if (a === '--help' || a === '-h') { console.log(usage); process.exit(0); }
  else { console.error(`unknown argument ${JSON.stringify(a)}\n${usage}`); process.exit(2); }
}

try {
  await ensurePrerequisites({ forceCriuBuild, criuInstallDir });
} catch (e) {
  console.error(e instanceof PrereqError ? e.message : (e as Error).stack ?? String(e));
  process.exit(1);
}
