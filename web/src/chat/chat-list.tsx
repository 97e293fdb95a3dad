// The scrolling list of chat lines, shared by live chat, the OBS overlay and VOD chat replay. It
// sticks to the newest line unless the reader scrolled up to read older ones.
import { useEffect, useRef } from 'react';
import { ChatLineView, type ModerationAction } from './chat-line-view.tsx';
import type { ChatLine } from './chat-state.ts';

type ChatListProps = {
  lines: ChatLine[];
  className?: string;
  onModerate?: ((action: ModerationAction, line: ChatLine) => void) | undefined;
};

export function ChatList({ lines, className, onModerate }: ChatListProps) {
  const listRef = useRef<HTMLOListElement>(null);
  const pinnedRef = useRef(true);

  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll again whenever lines change.
  useEffect(() => {
    const list = listRef.current;
    if (list !== null && pinnedRef.current) list.scrollTop = list.scrollHeight;
  }, [lines]);

  return (
    <ol
      ref={listRef}
      className={className ?? 'chat-list'}
      aria-live="polite"
      aria-label="Chat messages"
      onScroll={(event) => {
        const list = event.currentTarget;
        pinnedRef.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      }}
    >
      {lines.map((line) => (
        <ChatLineView key={line.id} line={line} onModerate={line.user ? onModerate : undefined} />
      ))}
    </ol>
  );
}
