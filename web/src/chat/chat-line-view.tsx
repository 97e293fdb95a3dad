// One chat line. Message text only ever becomes React text nodes (never HTML), and links stay
// plain text: nothing a chatter types can run, style the page, or send viewers elsewhere.
import type { ReactNode } from 'react';
import type { ChatLine } from './chat-state.ts';

export type ModerationAction = 'delete' | 'timeout' | 'ban';

const BADGE_LABELS: Record<string, string> = {
  broadcaster: 'Broadcaster',
  moderator: 'Moderator',
  vip: 'VIP',
  subscriber: 'Subscriber',
  partner: 'Partner',
};

type ChatLineViewProps = {
  line: ChatLine;
  onModerate?: ((action: ModerationAction, line: ChatLine) => void) | undefined;
};

export function ChatLineView({ line, onModerate }: ChatLineViewProps) {
  if (line.user === null) {
    return (
      <li className="chat-line chat-line-system" data-message-id={line.id}>
        {line.content}
      </li>
    );
  }
  const name = line.user.display_name ?? line.user.name;
  return (
    <li className="chat-line" data-message-id={line.id} data-user={line.user.name}>
      {line.user.badges?.map((badge) => (
        <span
          key={`${badge.id}/${badge.version}`}
          className={`chat-badge chat-badge-${badge.id}`}
          title={describeBadge(badge)}
          role="img"
          aria-label={describeBadge(badge)}
        />
      ))}
      <span className="chat-author" style={{ color: line.user.color ?? undefined }}>
        {name}
      </span>
      <span className="chat-separator">: </span>
      <span className="chat-content">{renderContent(line)}</span>
      {onModerate && line.user.id ? (
        <span className="chat-mod-actions">
          <button
            type="button"
            aria-label={`Delete message from ${name}`}
            onClick={() => onModerate('delete', line)}
          >
            Delete
          </button>
          <button
            type="button"
            aria-label={`Time out ${name} for 10 minutes`}
            onClick={() => onModerate('timeout', line)}
          >
            Timeout
          </button>
          <button type="button" aria-label={`Ban ${name}`} onClick={() => onModerate('ban', line)}>
            Ban
          </button>
        </span>
      ) : null}
    </li>
  );
}

function describeBadge(badge: { id: string; version: string }): string {
  const label = BADGE_LABELS[badge.id] ?? badge.id;
  return badge.id === 'subscriber' ? `${label} (${badge.version} months)` : label;
}

// Emote positions are inclusive [start, end] UTF-16 offsets into the content (protocol/chat.ts).
function renderContent(line: ChatLine): ReactNode[] {
  const ranges = line.emotes
    .flatMap((emote) => emote.positions.map(([start, end]) => ({ start, end, emote })))
    .filter((range) => range.start <= range.end && range.end < line.content.length)
    .sort((a, b) => a.start - b.start);
  const parts: ReactNode[] = [];
  let cursor = 0;
  for (const range of ranges) {
    if (range.start < cursor) continue;
    if (range.start > cursor) parts.push(line.content.slice(cursor, range.start));
    parts.push(
      <img
        key={`${range.start}-${range.emote.name}`}
        className="chat-emote"
        src={range.emote.url}
        alt={range.emote.name}
        title={range.emote.name}
        loading="lazy"
      />,
    );
    cursor = range.end + 1;
  }
  if (cursor < line.content.length) parts.push(line.content.slice(cursor));
  return parts;
}
