// The RTMP server under test, started on an ephemeral loopback port with a recording authorize
// and onPublish: what was asked, what was published, every log event. Shared by the server,
// pre-auth and fuzz suites; `closeHarnesses()` in an afterEach stops every server a test started.
import { type Amf0Value, encodeAmf0 } from '../../../containers/transcoder/src/rtmp/amf0.ts';
import type { RtmpMessage } from '../../../containers/transcoder/src/rtmp/messages.ts';
import {
  type AuthorizeRequest,
  type AuthorizeResult,
  type PublishCloseReason,
  type PublishSession,
  RtmpServer,
  type RtmpServerOptions,
} from '../../../containers/transcoder/src/rtmp/server.ts';

export interface Grant {
  readonly channelId: string;
}

export interface Recorded {
  session: PublishSession<Grant>;
  chunks: Buffer[];
  mediaBytes: number;
  closeReason: PublishCloseReason | null;
}

export interface Harness {
  server: RtmpServer<Grant>;
  authorizeCalls: Array<AuthorizeRequest & { mediaBytesSoFar: number }>;
  published: Recorded[];
  logs: Array<Record<string, unknown>>;
  totalMediaBytes(): number;
}

const servers: RtmpServer<Grant>[] = [];

export async function closeHarnesses(): Promise<void> {
  await Promise.all(servers.splice(0).map((server) => server.close()));
}

export async function startHarness(
  decide: (request: AuthorizeRequest) => Promise<AuthorizeResult<Grant>> = async () => ({
    ok: true,
    grant: { channelId: 'channel-1' },
  }),
  options: Partial<RtmpServerOptions<Grant>> = {},
): Promise<Harness> {
  const authorizeCalls: Harness['authorizeCalls'] = [];
  const published: Recorded[] = [];
  const logs: Harness['logs'] = [];
  const totalMediaBytes = (): number => published.reduce((sum, record) => sum + record.mediaBytes, 0);
  const server = new RtmpServer<Grant>({
    host: '127.0.0.1',
    port: 0,
    authorize: (request) => {
      authorizeCalls.push({ ...request, mediaBytesSoFar: totalMediaBytes() });
      return decide(request);
    },
    onPublish: (session) => {
      const record: Recorded = { session, chunks: [], mediaBytes: 0, closeReason: null };
      published.push(record);
      session.onMedia((bytes) => {
        record.chunks.push(bytes);
        record.mediaBytes += bytes.length;
      });
      session.onClose((reason) => {
        record.closeReason = reason;
      });
    },
    log: (event) => logs.push(event),
    ...options,
  });
  servers.push(server);
  await server.start();
  return { server, authorizeCalls, published, logs, totalMediaBytes };
}

export function command(streamId: number, ...values: Amf0Value[]): RtmpMessage {
  return { csid: 3, type: 20, streamId, timestamp: 0, payload: encodeAmf0(...values) };
}

export const urlFor = (harness: Harness, key: string, app = 'live'): string =>
  `rtmp://127.0.0.1:${harness.server.port}/${app}/${key}`;
