// `npm test`: every suite, one after another — the transcoder's Node tests, the workerd tests, and
// the end-to-end tests (real ffmpeg publisher, hls.js in Chromium). Prints one closing line with
// the totals and exits non-zero if anything failed.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/platform.ts';

interface Suite {
  name: string;
  config: string;
}

const SUITES: Suite[] = [
  { name: 'node', config: 'vitest.node.config.ts' },
  { name: 'workerd', config: 'vitest.workers.config.ts' },
  { name: 'e2e', config: 'vitest.e2e.config.ts' },
];

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
  testResults?: {
    name: string;
    message?: string;
    assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
}

/**
 * One line per failed test (file, name, the first line of its error), so the end of a long CI log
 * says what broke without scrolling back through the suite's own output.
 */
function failedTests(suite: string, result: VitestJson): string[] {
  const lines: string[] = [];
  for (const file of result.testResults ?? []) {
    const rel = file.name.startsWith(ROOT) ? file.name.slice(ROOT.length + 1) : file.name;
    const failedInFile = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    for (const test of failedInFile) {
      const first = (test.failureMessages?.[0] ?? '').split('\n')[0]?.slice(0, 300) ?? '';
      lines.push(`  ${suite}: ${rel} > ${test.fullName}: ${first}`);
    }
    if (failedInFile.length === 0 && file.message) {
      lines.push(`  ${suite}: ${rel}: ${file.message.split('\n')[0]?.slice(0, 300)}`);
    }
  }
  return lines;
}

function runSuite(suite: Suite, extraArgs: string[]): Promise<{ code: number | null; result?: VitestJson }> {
  const outDir = join(ROOT, 'test-results');
  mkdirSync(outDir, { recursive: true });
  const outputFile = join(outDir, `${suite.name}.json`);
  const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const args = [
    vitest,
    'run',
    '-c',
    suite.config,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${outputFile}`,
    ...extraArgs,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: process.env });
    child.on('exit', (code) => {
      try {
        const result = JSON.parse(readFileSync(outputFile, 'utf8')) as VitestJson;
        resolve({ code, result });
      } catch {
        resolve({ code });
      }
    });
  });
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const extra = process.argv.slice(2).filter((arg) => arg.startsWith('-'));
  const suites = only.length > 0 ? SUITES.filter((s) => only.includes(s.name)) : SUITES;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures: string[] = [];
  const failedLines: string[] = [];
  for (const suite of suites) {
    console.log(`\n=== ${suite.name} tests (${suite.config}) ===\n`);
    const { code, result } = await runSuite(suite, extra);
    if (result) {
      passed += result.numPassedTests;
      failed += result.numFailedTests;
      skipped += result.numPendingTests + result.numTodoTests;
      failedLines.push(...failedTests(suite.name, result));
    }
    if (code !== 0 || !result) {
      failures.push(suite.name);
      if (result?.numFailedTests === 0 || !result) failed += 1;
    }
  }
  console.log(
    `\nsuites: ${suites.map((s) => s.name).join(', ')}${failures.length ? `; failing: ${failures.join(', ')}` : ''}`,
  );
  if (failedLines.length > 0) console.log(`failed:\n${failedLines.join('\n')}`);
  console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failures.length > 0 ? 1 : 0);
}

await main();
