// "Share your resub": after a renewal the subscriber may share it in chat once, with a message
// (docs/payments.md, "Sharing a resub"). The prompt asks the API whether there is a renewal to
// share and disappears once it is shared (or when there is none).
import { type FormEvent, useState } from 'react';
import { MAX_MESSAGE_LENGTH } from '../../../protocol/chat.ts';
import { api, describeError, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';

export function ResubSharePrompt({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const { data, reload } = useApi(`/payments/channels/${channelId}/resub-share`, (options) =>
    readApi(api.payments.channels[':id']['resub-share'].$get({ param }, options)),
  );
  const [message, setMessage] = useState('');
  const [shareStreak, setShareStreak] = useState(true);
  const [status, setStatus] = useState('');
  if (!data?.available) return null;
  const share = async (event: FormEvent) => {
    event.preventDefault();
    setStatus('Sharing…');
    try {
      await readApi(
        api.payments.channels[':id']['resub-share'].$post({
          param,
          json: { message: message.trim(), share_streak: shareStreak },
        }),
      );
      setStatus('');
      setMessage('');
      reload();
    } catch (error) {
      setStatus(describeError(error));
    }
  };
  return (
    <form className="resub-share" aria-label="Share your resub" onSubmit={share}>
      <p>
        <strong>Share your resub</strong>: {data.cumulative_months} months
        {data.streak_months > 1 ? `, a ${data.streak_months} month streak` : ''}.
      </p>
      <label className="visually-hidden" htmlFor="resub-message">
        Resub message
      </label>
      <input
        id="resub-message"
        value={message}
        maxLength={MAX_MESSAGE_LENGTH}
        placeholder="Add a message (optional)"
        autoComplete="off"
        onChange={(event) => setMessage(event.target.value)}
      />
      <label>
        <input
          type="checkbox"
          checked={shareStreak}
          onChange={(event) => setShareStreak(event.target.checked)}
        />{' '}
        Share my streak
      </label>
      <button type="submit">Share</button>
      {status ? <span role="status">{status}</span> : null}
    </form>
  );
}
