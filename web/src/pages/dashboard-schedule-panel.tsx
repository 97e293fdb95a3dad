// The dashboard's schedule editor: the channel's weekly segments (PUT /channels/{id}/schedule),
// times in the streamer's time zone (this browser's by default). The API refuses overlaps and
// unknown zones; its message is shown as is.
import { type FormEvent, useEffect, useState } from 'react';
import { api, describeError, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

interface DraftSegment {
  key: number;
  weekday: number;
  start_time: string;
  duration_minutes: number;
  title: string;
  category: string;
}

let nextKey = 0;

export function SchedulePanel({ channelId }: { channelId: string }) {
  const param = { id: encodeURIComponent(channelId) };
  const schedule = useApi(`/channels/${channelId}/schedule`, (options) =>
    readApi(api.channels[':id'].schedule.$get({ param }, options)),
  );
  const categories = useApi('/categories', (options) => readApi(api.categories.$get({}, options)));
  const [timezone, setTimezone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [segments, setSegments] = useState<DraftSegment[]>([]);
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    if (!schedule.data) return;
    if (schedule.data.timezone) setTimezone(schedule.data.timezone);
    setSegments(
      schedule.data.segments.map((segment) => ({
        key: nextKey++,
        weekday: segment.weekday,
        start_time: segment.start_time,
        duration_minutes: segment.duration_minutes,
        title: segment.title,
        category: segment.category?.slug ?? '',
      })),
    );
  }, [schedule.data]);

  if (schedule.error) return <ErrorMessage error={schedule.error} />;
  if (!schedule.data) return <LoadingMessage />;

  const change = (key: number, patch: Partial<DraftSegment>) =>
    setSegments((all) => all.map((segment) => (segment.key === key ? { ...segment, ...patch } : segment)));

  const save = (event: FormEvent) => {
    event.preventDefault();
    setNote(null);
    const json = {
      timezone,
      segments: segments.map(({ key: _key, category, ...segment }) => ({
        ...segment,
        category: category === '' ? null : category,
      })),
    };
    readApi(api.channels[':id'].schedule.$put({ param, json })).then(
      () => setNote('Saved.'),
      (error: unknown) => setNote(describeError(error)),
    );
  };

  return (
    <form className="stack-form schedule-form" onSubmit={save}>
      <label htmlFor="schedule-timezone">Time zone</label>
      <input id="schedule-timezone" value={timezone} onChange={(event) => setTimezone(event.target.value)} />
      {segments.map((segment, index) => (
        <fieldset key={segment.key} className="input-row">
          <legend className="visually-hidden">Segment {index + 1}</legend>
          <select
            aria-label="Weekday"
            value={segment.weekday}
            onChange={(event) => change(segment.key, { weekday: Number(event.target.value) })}
          >
            {WEEKDAYS.map((day, i) => (
              <option key={day} value={i + 1}>
                {day}
              </option>
            ))}
          </select>
          <input
            aria-label="Start time"
            type="time"
            value={segment.start_time}
            onChange={(event) => change(segment.key, { start_time: event.target.value })}
          />
          <input
            aria-label="Length in minutes"
            type="number"
            min={15}
            max={1440}
            step={15}
            value={segment.duration_minutes}
            onChange={(event) => change(segment.key, { duration_minutes: Number(event.target.value) })}
          />
          <input
            aria-label="Title"
            maxLength={140}
            value={segment.title}
            onChange={(event) => change(segment.key, { title: event.target.value })}
          />
          <select
            aria-label="Category"
            value={segment.category}
            onChange={(event) => change(segment.key, { category: event.target.value })}
          >
            <option value="">No category</option>
            {(categories.data?.data ?? []).map((item) => (
              <option key={item.slug} value={item.slug}>
                {item.name}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="button-secondary"
            onClick={() => setSegments((all) => all.filter((other) => other.key !== segment.key))}
          >
            Remove
          </button>
        </fieldset>
      ))}
      <div className="input-row">
        <button
          type="button"
          className="button-secondary"
          onClick={() =>
            setSegments((all) => [
              ...all,
              {
                key: nextKey++,
                weekday: 1,
                start_time: '19:00',
                duration_minutes: 120,
                title: '',
                category: '',
              },
            ])
          }
        >
          Add a segment
        </button>
        <button type="submit" className="button-primary">
          Save schedule
        </button>
      </div>
      {note ? <p role="status">{note}</p> : null}
    </form>
  );
}
