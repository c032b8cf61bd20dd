// Project folders for configuration tests: one temporary folder per test file, removed after its
// tests, and one sub-folder per project holding the given files (config.env, config_hw.env, …).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export function tempProjects(prefix: string): { tmp: string; project(files: Record<string, string>): string } {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  let n = 0;
  return {
    tmp,
    project(files) {
      const dir = join(tmp, `p${++n}`);
      mkdirSync(dir);
      for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
      return dir;
    },
  };
}
