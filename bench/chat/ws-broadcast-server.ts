// The baseline for bench/chat: a plain Node `ws` server that broadcasts every chat message to every
// socket, with no rules, persistence or sharding. A fair ceiling for edgestream, which sends one
// WebSocket message per ~100 ms batch per socket: by default this server batches the same way
// (every `batchMs` it sends what arrived as one `{"type":"batch","frames":[...]}` message, each
// payload serialized once for all sockets). With batchMs 0 it sends each message on its own as it
// arrives, as the first version of the benchmark did. Run as its own process:
//   node bench/chat/ws-broadcast-server.ts <port> [batchMs=100]
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const batchMs = Number(process.argv[3] ?? '100');
const server = createServer((_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
let sequence = 0;
let pending: string[] = [];

function broadcast(payload: string): void {
  for (const client of wss.clients) client.send(payload);
}

function flushPending(): void {
  if (pending.length === 0) return;
  const payload = `{"type":"batch","frames":[${pending.join(',')}]}`;
  pending = [];
  broadcast(payload);
}

wss.on('connection', (socket) => {
  socket.on('message', (data) => {
    let content: unknown;
    try {
      const frame: unknown = JSON.parse(String(data));
      content = typeof frame === 'object' && frame !== null && 'content' in frame ? frame.content : undefined;
    } catch {
      return;
    }
    if (typeof content !== 'string') return;
    // The same frame shape edgestream sends, so both sides move similar bytes.
    const out = JSON.stringify({
      type: 'chat_message',
      id: `m${sequence++}`,
      channel_id: 'bench',
      user: {
        id: 'u',
        name: 'bench',
        display_name: 'bench',
        color: '#FF0000',
        badges: [{ id: 'moderator', version: '1' }],
      },
      content,
      emotes: [],
      timestamp: new Date().toISOString(),
    });
    if (batchMs > 0) pending.push(out);
    else broadcast(out);
  });
});
if (batchMs > 0) setInterval(flushPending, batchMs);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${port} batch ${batchMs} ms\n`);
});
