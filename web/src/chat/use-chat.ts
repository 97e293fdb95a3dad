// One chat socket per mounted chat view: connects to the channel's `/ws/{channel_id}`, sends the
// token first when signed in, parses every frame with the protocol's own schemas (zod/mini, so the
// first bundle stays small), and reconnects with backoff when the socket
// drops (a deploy or a shard moving must not end the chat).
import { useCallback, useEffect, useRef, useState } from 'react';
import { type RaidFrame, ServerFrame } from '../../../protocol/chat.ts';
import { readToken } from '../api/client.ts';
import {
  appendLines,
  applyServerFrame,
  type ChatState,
  describeSystemLine,
  INITIAL_CHAT_STATE,
} from './chat-state.ts';

export type ChatStatus = 'connecting' | 'open' | 'closed';

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];

export type ChatConnection = {
  state: ChatState;
  status: ChatStatus;
  /** Epoch ms until which sending is refused (rate limit or slow mode); 0 when free. */
  cooldownUntil: number;
  send: (content: string) => boolean;
};

export function resolveSocketUrl(socketPath: string): string {
  const url = new URL(socketPath, window.location.href);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.toString();
}

export function useChat(
  channelId: string | null,
  socketPath: string | null,
  onRaid?: (frame: RaidFrame) => void,
): ChatConnection {
  const [state, setState] = useState<ChatState>(INITIAL_CHAT_STATE);
  const [status, setStatus] = useState<ChatStatus>('connecting');
  const [cooldownUntil, setCooldownUntil] = useState(0);
  const socketRef = useRef<WebSocket | null>(null);
  const onRaidRef = useRef(onRaid);
  onRaidRef.current = onRaid;

  useEffect(() => {
    if (channelId === null) return;
    const url = resolveSocketUrl(socketPath ?? `/ws/${encodeURIComponent(channelId)}`);
    let attempt = 0;
    let stopped = false;
    let retryTimer = 0;
    setState(INITIAL_CHAT_STATE);

    const connect = () => {
      setStatus('connecting');
      const socket = new WebSocket(url);
      socketRef.current = socket;
      socket.addEventListener('open', () => {
        attempt = 0;
        setStatus('open');
        const token = readToken();
        if (token !== null) socket.send(JSON.stringify({ type: 'auth', token }));
      });
      socket.addEventListener('message', (event: MessageEvent<unknown>) => {
        if (typeof event.data !== 'string') return;
        const parsed = ServerFrame.safeParse(parseJson(event.data));
        // A frame this version does not know is skipped, not fatal: the server may be newer.
        if (!parsed.success) return;
        const frame = parsed.data;
        for (const single of frame.type === 'batch' ? frame.frames : [frame]) {
          if (single.type === 'error' && single.retry_after_ms !== undefined) {
            setCooldownUntil(Date.now() + single.retry_after_ms);
          }
          if (single.type === 'raid') onRaidRef.current?.(single);
        }
        // One state update per WebSocket message: a batch of ten messages renders once, not ten times.
        setState((current) => applyServerFrame(current, frame));
      });
      socket.addEventListener('close', () => {
        if (socketRef.current === socket) socketRef.current = null;
        if (stopped) return;
        setStatus('closed');
        const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)] ?? 8000;
        attempt += 1;
        retryTimer = window.setTimeout(connect, delay);
      });
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(retryTimer);
      socketRef.current?.close(1000, 'leaving');
      socketRef.current = null;
    };
  }, [channelId, socketPath]);

  const send = useCallback(
    (content: string) => {
      const socket = socketRef.current;
      if (socket === null || socket.readyState !== WebSocket.OPEN || channelId === null) {
        setState((current) => ({
          ...current,
          lines: appendLines(current.lines, [describeSystemLine('Not connected to chat yet.')]),
        }));
        return false;
      }
      socket.send(JSON.stringify({ type: 'chat_message', channel_id: channelId, content }));
      return true;
    },
    [channelId],
  );

  return { state, status, cooldownUntil, send };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
