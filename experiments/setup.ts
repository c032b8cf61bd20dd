// Installs the machine prerequisites of the local testbed (packages, CRIU >= 4.2, CRIU and podman
// settings) and nothing else. Used by .ci/run and by users before the first run: `npx tsx experiments/setup.ts`.
// --force-criu-build [--criu-dir DIR] rebuilds CRIU even when a good one is present (exercises the build path).
import { ensurePrerequisites, PrereqError } from '../lib/modes/local/prereqs.ts';
import { cliArgs } from '../lib/run/cli.ts';

const { values } = cliArgs({
  command: 'npx tsx experiments/setup.ts',
  summary: 'Installs the machine prerequisites of the local testbed (packages, CRIU >= 4.2, CRIU and podman settings).',
  options: {
    'force-criu-build': { type: 'boolean', help: 'rebuild CRIU even when a good one is present' },
    'criu-dir': { type: 'string', arg: 'DIR', help: 'with --force-criu-build: where to install the build' },
  },
});
const forceCriuBuild = values['force-criu-build'];
const criuInstallDir = values['criu-dir'];

try {
  await ensurePrerequisites({ forceCriuBuild, criuInstallDir });
} catch (e) {
  console.error(e instanceof PrereqError ? e.message : ((e as Error).stack ?? String(e)));
  process.exit(1);
}
