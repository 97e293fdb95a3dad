// wrangler.toml's queue wiring: a dead_letter_queue nobody consumes silently swallows every message
// that exhausted its retries, so each one must have a consumer (which stores it in dead_letters).
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

interface ConsumerSection {
  queue: string | undefined;
  deadLetterQueue: string | undefined;
}

/** The `key = "value"` string entries of each [[queues.consumers]] table (enough TOML for this file). */
function readConsumerSections(toml: string): ConsumerSection[] {
  const sections: ConsumerSection[] = [];
  let current: Map<string, string> | null = null;
  const close = () => {
    if (current)
      sections.push({ queue: current.get('queue'), deadLetterQueue: current.get('dead_letter_queue') });
  };
  for (const rawLine of toml.split('\n')) {
    const line = rawLine.replace(/#.*$/, '').trim();
    if (line.startsWith('[')) {
      close();
      current = line === '[[queues.consumers]]' ? new Map() : null;
      continue;
    }
    const entry = line.match(/^([A-Za-z_]+)\s*=\s*"([^"]*)"$/);
    if (current && entry?.[1] && entry[2] !== undefined) current.set(entry[1], entry[2]);
  }
  close();
  return sections;
}

const wranglerToml = await readFile(new URL('../../../wrangler.toml', import.meta.url), 'utf8');

describe('wrangler.toml queues', () => {
  const consumers = readConsumerSections(wranglerToml);
  const consumed = new Set(consumers.map((c) => c.queue));
  const deadLetterQueues = consumers.flatMap((c) => (c.deadLetterQueue ? [c.deadLetterQueue] : []));

  it('gives every dead-letter queue a consumer', () => {
    expect(deadLetterQueues.length).toBeGreaterThan(0);
    for (const dlq of deadLetterQueues) expect(consumed, `${dlq} has no consumer`).toContain(dlq);
  });

  it('gives dead-letter consumers no dead-letter queue of their own', () => {
    for (const consumer of consumers.filter((c) => deadLetterQueues.includes(c.queue ?? ''))) {
      expect(consumer.deadLetterQueue, `${consumer.queue} forwards its failures again`).toBeUndefined();
    }
  });

  it('names each consumed queue once', () => {
    const names = consumers.map((c) => c.queue);
    expect(names).not.toContain(undefined);
    expect(new Set(names).size).toBe(names.length);
  });
});
