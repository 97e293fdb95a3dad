// Graceful drain of a fleet node on SIGTERM (docs/deploy.md, "Drain"): the registry places nothing
// more here and the health check answers 503 (the front and Kubernetes readiness take the node out
// of rotation), live streams continue until their publishers end them or the drain deadline
// passes, then the caller closes what is left (each pipeline ends its publish with the origin) and
// the node leaves the fleet. Nothing is orphaned: every stream either ended by itself or was ended.
import type { LogSink } from '../log.ts';

export interface DrainOptions {
  /** Tells the registry (FleetMember.drain). */
  announce(): void;
  /** Live streams on this node now. */
  liveStreams(): number;
  deadlineMs: number;
  log: LogSink;
  pollMs?: number;
}

/** Waits until no stream is live or the deadline passes; says which. */
export async function drainStreams(options: DrainOptions): Promise<'empty' | 'deadline'> {
  const started = Date.now();
  options.announce();
  options.log({
    event: 'transcoder.draining',
    streams: options.liveStreams(),
    deadline_ms: options.deadlineMs,
  });
  const pollMs = options.pollMs ?? 250;
  while (options.liveStreams() > 0) {
    const left = options.deadlineMs - (Date.now() - started);
    if (left <= 0) {
      options.log({ level: 'warn', event: 'transcoder.drain_deadline', streams: options.liveStreams() });
      return 'deadline';
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
  }
  options.log({ event: 'transcoder.drained', drain_ms: Date.now() - started });
  return 'empty';
}
