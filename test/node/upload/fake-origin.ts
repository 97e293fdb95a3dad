// A narrow stand-in for the origin's internal ingest endpoint: a real HTTP server on loopback that
// records every request and answers what the test scripts.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  receivedAt: number;
}

export interface ScriptedResponse {
  status: number;
  body?: string;
  /** Hold the answer this long, to simulate a slow origin. */
  delayMs?: number;
}

export type Responder = (request: RecordedRequest) => ScriptedResponse;

export interface FakeOrigin {
  baseUrl: string;
  requests: RecordedRequest[];
  respond(responder: Responder): void;
  close(): Promise<void>;
}

export async function startFakeOrigin(): Promise<FakeOrigin> {
  const requests: RecordedRequest[] = [];
  let responder: Responder = () => ({ status: 204 });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        receivedAt: Date.now(),
      };
      requests.push(recorded);
      const answer = responder(recorded);
      setTimeout(() => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body ?? '');
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fake origin has no TCP address');
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    requests,
    respond(next) {
      responder = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
