// `/overlay/chat/{channel}`: chat for an OBS browser source. No chrome, a transparent page, text
// with a shadow so it reads over any game, and lines that fade out after a while (styles.css).
import { useEffect } from 'react';
import { useParams } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ChatList } from '../chat/chat-list.tsx';
import { useChat } from '../chat/use-chat.ts';

export function OverlayChatPage() {
  const name = useParams().channel ?? '';
  const channel = useApi(`/channels/${name}`, (options) =>
    readApi(api.channels[':id'].$get({ param: { id: encodeURIComponent(name) } }, options)),
  );
  const { state } = useChat(channel.data?.id ?? null, channel.data?.chat_websocket ?? null);

  useEffect(() => {
    document.documentElement.classList.add('overlay-mode');
    return () => document.documentElement.classList.remove('overlay-mode');
  }, []);

  return <ChatList className="overlay-chat" lines={state.lines.filter((line) => line.user !== null)} />;
}
