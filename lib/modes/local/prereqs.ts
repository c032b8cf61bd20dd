// Machine prerequisites of the local testbed: Debian packages, CRIU >= 4.2 (built from Debian sid's
// source package, since bookworm's 3.17 cannot run on new kernels), CRIU's network-lock settings and
// podman's runtime/rlimit drop-in. Idempotent: every step checks first and only changes what is missing.
// Facts behind each choice: /work/shared/reference/this-machine.md (mirrored in the comments of prereqs/*.ts).
// The jobs live in prereqs/: needs.ts (what is needed), decide.ts (pure decisions), probe.ts (read-only
// probing), install.ts (changing the machine).

export {
  compareVersions,
  decideCriu,
  manualInstructions,
  mergeCriuConf,
  missingPackages,
  parseCriuVersion,
  parseOsRelease,
  type PrereqPlan,
} from './prereqs/decide.ts';
export { ensurePrerequisites, PrereqError } from './prereqs/install.ts';
export { CRIU_INSTALL_DIR } from './prereqs/needs.ts';
