// Live chat beside the video: room-state chips, the message list with moderation actions for
// moderators, and the composer, which shows rate-limit and slow-mode waits as a countdown.
import { type FormEvent, useEffect, useState } from 'react';
import { Link } from 'react-router';
import { DEFAULT_TIMEOUT_SECONDS, MAX_MESSAGE_LENGTH, type RaidFrame } from '../../../protocol/chat.ts';
import type { PollView, PredictionView } from '../../../protocol/engagement.ts';
import { useAuth } from '../auth/auth-context.tsx';
import type { ModerationAction } from './chat-line-view.tsx';
import { ChatList } from './chat-list.tsx';
import { type ChatLine, canModerate } from './chat-state.ts';
import { ResubSharePrompt } from './resub-share-prompt.tsx';
import { useChat } from './use-chat.ts';

type ChatPanelProps = {
  channelId: string | null;
  socketPath: string | null;
  onRaid?: (frame: RaidFrame) => void;
  onViewerCount?: (count: number) => void;
  /** The latest poll and prediction chat announced (the watch page's channel-points panel). */
  onEngagement?: (poll: PollView | null, prediction: PredictionView | null) => void;
};

export function ChatPanel({ channelId, socketPath, onRaid, onViewerCount, onEngagement }: ChatPanelProps) {
  const { user } = useAuth();
  const { state, status, cooldownUntil, send } = useChat(channelId, socketPath, onRaid);
  const [draft, setDraft] = useState('');
  const waitSeconds = useCountdown(cooldownUntil);
  const moderator = canModerate(state.me);
  const viewerCount = state.viewerCount;
  useEffect(() => {
    if (viewerCount !== null) onViewerCount?.(viewerCount);
  }, [viewerCount, onViewerCount]);
  const { poll, prediction } = state;
  useEffect(() => {
    onEngagement?.(poll, prediction);
  }, [poll, prediction, onEngagement]);

  const moderate = (action: ModerationAction, line: ChatLine) => {
    if (line.user === null) return;
    const command =
      action === 'delete'
        ? `/delete ${line.id}`
        : action === 'timeout'
          ? `/timeout ${line.user.name} ${DEFAULT_TIMEOUT_SECONDS}`
          : `/ban ${line.user.name}`;
    send(command);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const content = draft.trim();
    if (content === '' || waitSeconds > 0) return;
    if (send(content)) setDraft('');
  };

  const room = state.roomState;
  return (
    <section className="chat-panel" aria-label="Chat">
      <header className="chat-header">
        <h2>Chat</h2>
        <span className={`chat-status chat-status-${status}`}>{describeStatus(status)}</span>
      </header>
      {room ? (
        <ul className="room-state" aria-label="Chat modes">
          {room.slow_seconds > 0 ? <li>Slow mode {room.slow_seconds}s</li> : null}
          {room.subscribers_only ? <li>Subscribers only</li> : null}
          {room.emote_only ? <li>Emote only</li> : null}
          {room.followers_only_minutes >= 0 ? (
            <li>
              Followers only{room.followers_only_minutes > 0 ? ` (${room.followers_only_minutes}m)` : ''}
            </li>
          ) : null}
          {room.unique_chat ? <li>Unique chat</li> : null}
        </ul>
      ) : null}
      <ChatList lines={state.lines} onModerate={moderator ? moderate : undefined} />
      {user && channelId ? <ResubSharePrompt channelId={channelId} /> : null}
      {user ? (
        <form className="chat-composer" onSubmit={submit}>
          <label className="visually-hidden" htmlFor="chat-input">
            Send a message
          </label>
          <input
            id="chat-input"
            value={draft}
            maxLength={MAX_MESSAGE_LENGTH}
            placeholder={waitSeconds > 0 ? `Wait ${waitSeconds}s…` : 'Send a message'}
            autoComplete="off"
            onChange={(event) => setDraft(event.target.value)}
          />
          <button type="submit" disabled={waitSeconds > 0 || status !== 'open'}>
            {waitSeconds > 0 ? `${waitSeconds}s` : 'Chat'}
          </button>
        </form>
      ) : (
        <p className="chat-signed-out">
          <Link to="/login">Log in</Link> or <Link to="/signup">sign up</Link> to chat.
        </p>
      )}
    </section>
  );
}

function describeStatus(status: 'connecting' | 'open' | 'closed'): string {
  if (status === 'open') return 'Connected';
  return status === 'connecting' ? 'Connecting…' : 'Reconnecting…';
}

/** Whole seconds left until `until` (epoch ms), ticking every half second while positive. */
export function useCountdown(until: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (until <= Date.now()) return;
    setNow(Date.now());
    const timer = window.setInterval(() => {
      setNow(Date.now());
      if (Date.now() >= until) window.clearInterval(timer);
    }, 500);
    return () => window.clearInterval(timer);
  }, [until]);
  return Math.max(0, Math.ceil((until - now) / 1000));
}
