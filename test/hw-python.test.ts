// The Python check's logic, with fake interpreters (tiny scripts printing a version).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPython, parsePythonVersion, probePython, pythonProblems } from '../hw/check-python.ts';

const root = mkdtempSync(join(tmpdir(), 'p4hw-py-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake interpreter: `--version` prints `versionLine` (on stderr for Python 2), `-c` succeeds iff distutils. */
function fakePython(name: string, versionLine: string, distutils: boolean, versionOnStderr = false): string {
  const p = join(root, name);
  writeFileSync(
    p,
    `#!/bin/sh
case "$1" in
  --version) echo '${versionLine}' ${versionOnStderr ? '>&2' : ''} ;;
  -c) ${distutils ? 'exit 0' : `echo 'Traceback (most recent call last):' >&2; echo "ModuleNotFoundError: No module named 'distutils'" >&2; exit 1`} ;;
  *) exit 9 ;;
esac
`,
  );
  chmodSync(p, 0o755);
  return p;
}

describe('parsePythonVersion', () => {
  it('reads major.minor.patch', () => {
    expect(parsePythonVersion('Python 3.10.12')).toEqual({ major: 3, minor: 10, patch: 12 });
    expect(parsePythonVersion('Python 3.12')).toEqual({ major: 3, minor: 12, patch: 0 });
    expect(parsePythonVersion('bash: nope')).toBeUndefined();
  });
});

describe('probe + problems', () => {
  it('accepts 3.10 and 3.11 with distutils', async () => {
    for (const v of ['3.10.12', '3.11.9']) {
      const f = await checkPython(fakePython(`py${v}`, `Python ${v}`, true));
      expect(f.version?.minor).toBe(Number(v.split('.')[1]));
      expect(f.distutils).toBe(true);
    }
  });

  it('refuses 3.12 and says distutils is the reason', async () => {
    const py = fakePython('py312', 'Python 3.12.3', false);
    const err = await checkPython(py).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain(`${py} is Python 3.12.3; the SDE build needs 3.11 or older`);
    expect(msg).toMatch(/imports distutils, which Python 3\.12 removed, and the build's error does not say so/);
    expect(msg).toMatch(/cannot import distutils \(ModuleNotFoundError: No module named 'distutils'\)/);
  });

  it('refuses 3.11 without distutils, with the package to install', async () => {
    const problems = pythonProblems(await probePython(fakePython('py311nd', 'Python 3.11.2', false)));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/install python3-distutils/);
  });

  it('refuses Python 2 (version on stderr) and unreadable versions', async () => {
    const p2 = pythonProblems(await probePython(fakePython('py2', 'Python 2.7.18', true, true)));
    expect(p2[0]).toMatch(/is Python 2\.7\.18; the SDE build needs Python 3/);
    const junk = pythonProblems(await probePython(fakePython('junk', 'hello', true)));
    expect(junk[0]).toMatch(/--version printed "hello", expected "Python 3.x.y"/);
  });

  it('names an interpreter that cannot run', async () => {
    await expect(probePython(join(root, 'no-such-python'))).rejects.toThrow(/cannot run .*no-such-python --version/);
  });

  it('CLI exit codes: 0 when fine, 1 with the reason otherwise', () => {
    const ok = spawnSync('npx', ['tsx', 'hw/check-python.ts', '--python', fakePython('cli-ok', 'Python 3.10.12', true)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/ok: .* is Python 3\.10\.12 and imports distutils/);
    const bad = spawnSync('npx', ['tsx', 'hw/check-python.ts', '--python', fakePython('cli-bad', 'Python 3.12.1', false)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/error: Python not suitable for the SDE build/);
  });
});
