// Check that the Python which will run the SDE build can run it.
//
// open-p4studio's build (p4studio and several package build scripts) imports `distutils`, which
// Python 3.12 removed. The build then dies with an import error that does not mention distutils,
// deep inside `p4studio profile apply`, after a long time. So check before starting: Python must
// be 3.x with x <= 11, and `import distutils` must work (Debian/Ubuntu split it into the
// python3-distutils package on some releases).
import { $q, cliMain } from './cli.ts';

export const MAX_MINOR = 11;

export interface PythonFacts {
  /** The interpreter that was asked. */
  python: string;
  /** Raw `--version` output. */
  versionText: string;
  version?: { major: number; minor: number; patch: number };
  distutils: boolean;
  /** stderr of the failed `import distutils`, if it failed. */
  distutilsError?: string;
}

/** "Python 3.11.7" → {3, 11, 7}; undefined when the text is not a Python version line. */
export function parsePythonVersion(text: string): PythonFacts['version'] {
  const m = /Python\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** Every reason this interpreter cannot run the SDE build; empty when it can. */
export function pythonProblems(f: PythonFacts): string[] {
  const problems: string[] = [];
  const v = f.version;
  if (!v) {
    problems.push(`${f.python} --version printed ${JSON.stringify(f.versionText.trim())}, expected "Python 3.x.y"`);
    return problems;
  }
  const shown = `${v.major}.${v.minor}.${v.patch}`;
  if (v.major !== 3) {
    problems.push(`${f.python} is Python ${shown}; the SDE build needs Python 3 (3.${MAX_MINOR} or older)`);
  } else if (v.minor > MAX_MINOR) {
    problems.push(
      `${f.python} is Python ${shown}; the SDE build needs 3.${MAX_MINOR} or older: open-p4studio imports distutils, ` +
        `which Python 3.12 removed, and the build's error does not say so. Install e.g. Python 3.10 ` +
        `(Ubuntu 22.04's default) and pass it with --python, or put it first in PATH`,
    );
  }
  if (!f.distutils) {
    problems.push(
      `${f.python} cannot import distutils (${(f.distutilsError ?? '').trim().split('\n').pop() || 'no detail'}); ` +
        `open-p4studio needs it: install python3-distutils (Debian/Ubuntu) or setuptools`,
    );
  }
  return problems;
}

/** Ask the interpreter for its version and whether `import distutils` works. */
export async function probePython(python = 'python3'): Promise<PythonFacts> {
  let versionText: string;
  try {
    const r = await $q`${python} --version`;
    // Python 2 printed its version on stderr.
    versionText = r.stdout.trim() || r.stderr.trim();
  } catch (e) {
    const err = e as { exitCode?: number; stderr?: string; message: string };
    throw new Error(
      `cannot run ${python} --version (exit ${err.exitCode ?? '?'}): ${(err.stderr ?? err.message).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
  const d = await $q({ nothrow: true })`${python} -c ${'import distutils'}`;
  return {
    python,
    versionText,
    version: parsePythonVersion(versionText),
    distutils: d.exitCode === 0,
    distutilsError: d.exitCode === 0 ? undefined : d.stderr,
  };
}

/** Probe and throw one error listing every problem; returns the facts when the interpreter is fine. */
export async function checkPython(python = 'python3'): Promise<PythonFacts> {
  const facts = await probePython(python);
  const problems = pythonProblems(facts);
  if (problems.length) throw new Error(`Python not suitable for the SDE build:\n  - ${problems.join('\n  - ')}`);
  return facts;
}

const USAGE = `
Usage: npx tsx hw/check-python.ts [--python BIN]

Checks that the Python used by the SDE build is 3.${MAX_MINOR} or older and can import distutils.
open-p4studio imports distutils, which Python 3.12 removed; the build's own error does not say so.

  --python BIN   interpreter to check (default: python3 from PATH, which p4studio uses)
  -h, --help     this text
`;

cliMain(import.meta.url, { python: { type: 'string' } }, USAGE, async ({ values }) => {
  const f = await checkPython(values.python ?? 'python3');
  const v = f.version!;
  console.log(`ok: ${f.python} is Python ${v.major}.${v.minor}.${v.patch} and imports distutils`);
});
