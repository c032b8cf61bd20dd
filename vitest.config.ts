import { defineConfig } from 'vitest/config';

// Integration tests share the machine's namespaces, podman and CPU (2 cores): run files one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // the JSON report lets .ci/run print one closing 'N passed, N failed' line
    reporters: ['default', 'json'],
    outputFile: { json: 'test-artifacts/vitest-report.json' },
  },
});
