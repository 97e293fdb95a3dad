// Plain-text tables for the terminal: one per benchmark, with the machine it ran on.
import type { Machine } from './machine.ts';

export interface Table {
  title: string;
  /** e.g. "source 640x360 30 fps, x264 veryfast zerolatency, 2 s GOP". */
  source: string;
  headers: string[];
  rows: string[][];
  /** Lines printed under the table: goal vs measured, caveats. */
  notes?: string[];
}

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const renderRow = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd : cell.padStart).call(cell, widths[column] ?? 0))
      .join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [renderRow(headers), rule, ...rows.map(renderRow)].join('\n');
}

export function describeMachineLine(machine: Machine): string {
  return `machine: ${machine.cpu} x${machine.cores}, node ${machine.node}, ffmpeg ${machine.ffmpeg}, load ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`;
}

export function printTable(table: Table, machine: Machine): void {
  const lines = [
    '',
    `== ${table.title} ==`,
    describeMachineLine(machine),
    table.source,
    '',
    formatTable(table.headers, table.rows),
    ...(table.notes ?? []).map((note) => `  ${note}`),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
