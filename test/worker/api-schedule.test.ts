// The weekly stream schedule: the owner sets it, anyone reads it (by channel id or name), and what
// would make it wrong or misleading is refused without touching the stored one.
import { describe, expect, it } from 'vitest';
import { MAX_SCHEDULE_SEGMENTS } from '../../workers/api/routes/schedule.ts';
import { callApi, readError, signUp } from './api-helpers.ts';

const evening = {
  weekday: 1,
  start_time: '19:00',
  duration_minutes: 180,
  title: 'Monday build',
  category: 'art',
};

describe('stream schedule', () => {
  it('stores the weekly segments in time order with their categories and shows them to anyone', async () => {
    const owner = await signUp('sched');
    const empty = await callApi(`/channels/${owner.channel.id}/schedule`);
    expect(await empty.json()).toEqual({ timezone: null, segments: [] });
    const put = await callApi(`/channels/${owner.channel.id}/schedule`, {
      method: 'PUT',
      token: owner.token,
      body: {
        timezone: 'Europe/Berlin',
        segments: [
          {
            weekday: 5,
            start_time: '20:30',
            duration_minutes: 120,
            title: 'Friday music',
            category: 'music',
          },
          evening,
          { weekday: 7, start_time: '10:00', duration_minutes: 60, title: 'Sunday coffee', category: null },
        ],
      },
    });
    expect(put.status).toBe(200);
    const read = await callApi(`/channels/${owner.user.username}/schedule`);
    const body = (await read.json()) as {
      timezone: string;
      segments: { weekday: number; start_time: string; title: string; category: { slug: string } | null }[];
    };
    expect(body.timezone).toBe('Europe/Berlin');
    expect(body.segments.map((s) => [s.weekday, s.start_time, s.title, s.category?.slug ?? null])).toEqual([
      [1, '19:00', 'Monday build', 'art'],
      [5, '20:30', 'Friday music', 'music'],
      [7, '10:00', 'Sunday coffee', null],
    ]);
    const cleared = await callApi(`/channels/${owner.channel.id}/schedule`, {
      method: 'PUT',
      token: owner.token,
      body: { timezone: 'UTC', segments: [] },
    });
    expect(await cleared.json()).toEqual({ timezone: 'UTC', segments: [] });
    expect((await callApi(`/channels/${crypto.randomUUID()}/schedule`)).status).toBe(404);
  });

  it("refuses another user's edit, unknown zones and categories, overlaps, bad times and disguised titles, keeping the schedule", async () => {
    const owner = await signUp('schedown');
    const other = await signUp('schedother');
    const path = `/channels/${owner.channel.id}/schedule`;
    const put = (token: string, body: unknown) => callApi(path, { method: 'PUT', token, body });
    expect((await put(owner.token, { timezone: 'America/New_York', segments: [evening] })).status).toBe(200);

    const foreign = await put(other.token, { timezone: 'UTC', segments: [] });
    expect(foreign.status).toBe(403);
    const refusals: [unknown, number, string][] = [
      [{ timezone: 'Mars/Olympus_Mons', segments: [evening] }, 422, 'unprocessable'],
      [{ timezone: 'UTC', segments: [{ ...evening, category: 'no-such-category' }] }, 422, 'unprocessable'],
      // 19:00 + 3 h runs past 21:00 the same day.
      [
        { timezone: 'UTC', segments: [evening, { ...evening, start_time: '21:00', title: 'late' }] },
        422,
        'unprocessable',
      ],
      // Sunday 23:00 for 2 h runs into Monday 00:30.
      [
        {
          timezone: 'UTC',
          segments: [
            { ...evening, weekday: 7, start_time: '23:00', duration_minutes: 120 },
            { ...evening, weekday: 1, start_time: '00:30', duration_minutes: 30 },
          ],
        },
        422,
        'unprocessable',
      ],
      [{ timezone: 'UTC', segments: [{ ...evening, start_time: '24:00' }] }, 400, 'validation_failed'],
      [{ timezone: 'UTC', segments: [{ ...evening, weekday: 0 }] }, 400, 'validation_failed'],
      [{ timezone: 'UTC', segments: [{ ...evening, duration_minutes: 5 }] }, 400, 'validation_failed'],
      [
        { timezone: 'UTC', segments: [{ ...evening, title: 'Official \u202Eevent' }] },
        400,
        'validation_failed',
      ],
      [
        {
          timezone: 'UTC',
          segments: Array.from({ length: MAX_SCHEDULE_SEGMENTS + 1 }, (_, i) => ({
            ...evening,
            weekday: 1 + (i % 7),
            start_time: `${String(i % 24).padStart(2, '0')}:00`,
            duration_minutes: 15,
          })),
        },
        400,
        'validation_failed',
      ],
    ];
    for (const [body, status, code] of refusals) {
      const res = await put(owner.token, body);
      expect(res.status, JSON.stringify(body).slice(0, 120)).toBe(status);
      expect((await readError(res)).code).toBe(code);
    }
    const kept = (await (await callApi(path)).json()) as { timezone: string; segments: unknown[] };
    expect(kept.timezone).toBe('America/New_York');
    expect(kept.segments).toHaveLength(1);
  });
});
