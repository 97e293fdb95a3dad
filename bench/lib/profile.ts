// CPU profiles of the local Worker (every Durable Object runs in its isolate under `wrangler dev`)
// through its DevTools port: where a benchmark's server time goes. The profile is written as a
// .cpuprofile (open it in Chrome's DevTools, Performance panel) and summarized as the functions
// with the most self time.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import WebSocket from 'ws';
import { z } from 'zod';

const Target = z.object({ webSocketDebuggerUrl: z.string() });
const ProfileNode = z.object({
  id: z.number(),
  callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
});
const CpuProfile = z.object({
  nodes: z.array(ProfileNode),
  samples: z.array(z.number()).default([]),
  timeDeltas: z.array(z.number()).default([]),
});
const Reply = z.object({ id: z.number(), result: z.unknown().optional(), error: z.unknown().optional() });

export interface ProfileHotspot {
  function: string;
  location: string;
  self_ms: number;
  share: number;
}

export interface CpuProfiler {
  /** Stops profiling, writes the .cpuprofile to `path` and returns the top functions by self time. */
  stop(path: string, top?: number): Promise<ProfileHotspot[]>;
}

/** Starts the V8 sampling profiler of the Worker behind `inspectorPort`. */
export async function startCpuProfile(inspectorPort: number, intervalUs = 500): Promise<CpuProfiler> {
  const listing = await fetch(`http://127.0.0.1:${inspectorPort}/json`);
  const [target] = z.array(Target).parse(await listing.json());
  if (target === undefined) throw new Error(`no DevTools target on :${inspectorPort}`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, (reply: z.infer<typeof Reply>) => void>();
  socket.on('message', (data) => {
    const parsed = Reply.safeParse(JSON.parse(String(data)));
    if (!parsed.success) return;
    pending.get(parsed.data.id)?.(parsed.data);
    pending.delete(parsed.data.id);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`${method}: no reply in 60 s`)), 60_000);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error !== undefined) reject(new Error(`${method}: ${JSON.stringify(reply.error)}`));
        else resolve(reply.result);
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: intervalUs });
  await call('Profiler.start');
  return {
    async stop(path, top = 25) {
      const result = z.object({ profile: z.unknown() }).parse(await call('Profiler.stop'));
      socket.close();
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, JSON.stringify(result.profile));
      return summarize(CpuProfile.parse(result.profile), top);
    },
  };
}

function summarize(profile: z.infer<typeof CpuProfile>, top: number): ProfileHotspot[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, { location: string; us: number }>();
  let totalUs = 0;
  profile.samples.forEach((nodeId, i) => {
    const node = byNode.get(nodeId);
    const delta = profile.timeDeltas[i] ?? 0;
    if (node === undefined) return;
    totalUs += delta;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const location = url ? `${url.split('/').slice(-2).join('/')}:${lineNumber + 1}` : '';
    const key = `${name} ${location}`;
    const entry = selfUs.get(key) ?? { location, us: 0 };
    entry.us += delta;
    selfUs.set(key, entry);
  });
  return [...selfUs.entries()]
    .sort((a, b) => b[1].us - a[1].us)
    .slice(0, top)
    .map(([key, { location, us }]) => ({
      function: key.slice(0, key.length - location.length).trim(),
      location,
      self_ms: Math.round(us / 1000),
      share: totalUs > 0 ? Number((us / totalUs).toFixed(3)) : 0,
    }));
}
