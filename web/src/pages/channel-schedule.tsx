// The channel's weekly schedule on its page (GET /channels/{id}/schedule): each segment's weekday,
// local start and end in the streamer's time zone, title and category. Nothing is shown when the
// channel has no schedule.
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

function formatEnd(startTime: string, durationMinutes: number): string {
  const [hours, minutes] = startTime.split(':').map(Number);
  const end = ((hours ?? 0) * 60 + (minutes ?? 0) + durationMinutes) % (24 * 60);
  return `${String(Math.floor(end / 60)).padStart(2, '0')}:${String(end % 60).padStart(2, '0')}`;
}

export function ChannelSchedule({ channelId }: { channelId: string }) {
  const schedule = useApi(`/channels/${channelId}/schedule`, (options) =>
    readApi(api.channels[':id'].schedule.$get({ param: { id: encodeURIComponent(channelId) } }, options)),
  );
  const segments = schedule.data?.segments ?? [];
  if (segments.length === 0) return null;
  return (
    <section className="channel-schedule" aria-label="Schedule">
      <h2>
        Schedule <span className="schedule-zone">({schedule.data?.timezone})</span>
      </h2>
      <ul>
        {segments.map((segment) => (
          <li key={`${segment.weekday}-${segment.start_time}`}>
            <span className="schedule-when">
              {WEEKDAYS[segment.weekday - 1]} {segment.start_time}–
              {formatEnd(segment.start_time, segment.duration_minutes)}
            </span>
            <span>{segment.title}</span>
            {segment.category ? <span className="schedule-category">{segment.category.name}</span> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
