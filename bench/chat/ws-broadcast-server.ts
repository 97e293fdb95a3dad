// The baseline for bench/chat: a plain Node `ws` server that broadcasts every chat message to every
// socket at once, with no rules, batching, persistence or sharding. Run as its own process:
//   node bench/chat/ws-broadcast-server.ts <port>
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const server = createServer((_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
let sequence = 0;
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
    for (const client of wss.clients) client.send(out);
  });
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${port}\n`);
});
