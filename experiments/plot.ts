// Usage: npx tsx experiments/plot.ts RUN_DIR
// Writes summary.json, plots/ and report.html into RUN_DIR (either format: p4cf or published bash).
import { cliArgs } from '../lib/run/cli.ts';
import { analyzeRun, summaryLines } from './analysis/analyze.ts';

async function main(argv: string[]): Promise<number> {
  const { args } = cliArgs(
    {
      command: 'npx tsx experiments/plot.ts',
      summary:
        'Writes summary.json, plots/ and report.html into RUN_DIR (a results/run_* folder of p4cf or of the published bash version).',
      args: { name: 'RUN_DIR', what: 'run folder', min: 1, max: 1 },
      options: {},
    },
    argv,
  );
  const result = await analyzeRun(args[0]);
  for (const line of summaryLines(result)) console.log(line);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    console.error(`plot: ${e.message}`);
    process.exitCode = 1;
  },
);
