// Usage: npx tsx experiments/plot.ts RUN_DIR
// Writes summary.json, plots/ and report.html into RUN_DIR (either format: p4cf or published bash).
import { analyzeRun, summaryLines } from './analysis/analyze.ts';

const USAGE = 'usage: npx tsx experiments/plot.ts RUN_DIR   (a results/run_* folder of p4cf or of the published bash version)';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) { console.log(USAGE); return 0; }
  if (argv.length !== 1) { console.error(`expected exactly one RUN_DIR, got ${argv.length} argument(s)\n${USAGE}`); return 2; }
  const result = await analyzeRun(argv[0]);
  for (const line of summaryLines(result)) console.log(line);
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: Error) => {
  console.error(`plot: ${e.message}`);
  process.exitCode = 1;
});
