// JSON results under bench/results/ (git-ignored): one file per benchmark, and the summary of a run.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from '../../scripts/lib/platform.ts';

export const RESULTS_DIR = join(ROOT, 'bench', 'results');

export async function writeResult(name: string, data: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}
