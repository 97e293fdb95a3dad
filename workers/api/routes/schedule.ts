// A streamer's weekly schedule, shown on the channel page: recurring segments (weekday, start time
// and length in the channel's time zone, a title, a category). Stored as one row per channel; the
// segments are validated here on write (no overlaps within the week, at most MAX_SEGMENTS) and
// parsed with the same schema on read.
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../shared/auth.ts';
import { forbidden, notFound, unprocessable } from '../../shared/errors.ts';
import {
  BearerSecurity,
  createApiRouter,
  describeErrors,
  jsonBody,
  jsonContent,
  pathParam,
} from '../lib/router.ts';
import { type Category, CategorySchema, findCategory, findChannel } from '../lib/views.ts';

export const MAX_SCHEDULE_SEGMENTS = 28;
const MINUTES_PER_WEEK = 7 * 24 * 60;
/** Titles are shown as text; control, bidi and zero-width characters could disguise them. */
const UNSAFE_TEXT = /[\p{Cc}\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/u;

const SegmentInput = z.object({
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: z.number().int().min(1).max(7),
  /** Local time in the schedule's time zone, 24-hour "HH:MM". */
  start_time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'start_time is "HH:MM", 24-hour'),
  duration_minutes: z
    .number()
    .int()
    .min(15)
    .max(24 * 60),
  title: z
    .string()
    .max(140)
    .refine((title) => !UNSAFE_TEXT.test(title), 'title has control or invisible characters'),
  category: z.string().min(1).max(100).nullable().default(null),
});
const ScheduleInput = z
  .object({
    timezone: z.string().min(1).max(64),
    segments: z.array(SegmentInput).max(MAX_SCHEDULE_SEGMENTS),
  })
  .openapi('ScheduleInput');

const ScheduleSegmentSchema = z
  .object({
    weekday: z.number().int(),
    start_time: z.string(),
    duration_minutes: z.number().int(),
    title: z.string(),
    category: CategorySchema.nullable(),
  })
  .openapi('ScheduleSegment');
const ScheduleSchema = z
  .object({ timezone: z.string().nullable(), segments: z.array(ScheduleSegmentSchema) })
  .openapi('Schedule');
type Schedule = z.infer<typeof ScheduleSchema>;
const StoredSegments = z.array(ScheduleSegmentSchema);
const ChannelParams = z.object({ id: pathParam('id') });

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function toMinuteOfWeek(weekday: number, startTime: string): number {
  const [hours, minutes] = startTime.split(':').map(Number);
  return (weekday - 1) * 24 * 60 + (hours ?? 0) * 60 + (minutes ?? 0);
}

/** The first pair of segments that overlap in the week (a Sunday-night segment may run into Monday). */
function findOverlap(segments: readonly z.infer<typeof SegmentInput>[]): [number, number] | null {
  const spans = segments
    .map((segment, index) => ({
      index,
      start: toMinuteOfWeek(segment.weekday, segment.start_time),
      length: segment.duration_minutes,
    }))
    .sort((a, b) => a.start - b.start);
  for (let i = 0; i < spans.length; i++) {
    const current = spans[i];
    const next = spans[(i + 1) % spans.length];
    if (!current || !next || spans.length < 2) continue;
    const gap = (next.start - current.start + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
    if (current.length > gap) return [current.index, next.index];
  }
  return null;
}

async function readSchedule(db: D1Database, channelId: string): Promise<Schedule> {
  const row = await db
    .prepare('SELECT timezone, segments FROM channel_schedules WHERE channel_id = ?')
    .bind(channelId)
    .first<{ timezone: string; segments: string }>();
  if (!row) return { timezone: null, segments: [] };
  return { timezone: row.timezone, segments: StoredSegments.parse(JSON.parse(row.segments)) };
}

export const scheduleApp = createApiRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/channels/{id}/schedule',
      tags: ['schedule'],
      summary: "A channel's weekly stream schedule",
      request: { params: ChannelParams },
      responses: {
        200: jsonContent(
          ScheduleSchema,
          'Segments by weekday and local start time; timezone null when none is set',
        ),
        ...describeErrors(404),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      return c.json(await readSchedule(c.env.DB, channel.id), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'put',
      path: '/channels/{id}/schedule',
      tags: ['schedule'],
      summary: "Replace the channel's weekly schedule (the owner); no segments clears it",
      security: BearerSecurity,
      middleware: [requireUser] as const,
      request: { params: ChannelParams, body: jsonBody(ScheduleInput) },
      responses: {
        200: jsonContent(ScheduleSchema, 'The schedule now'),
        ...describeErrors(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const channel = await findChannel(c, c.req.valid('param').id);
      if (!channel) throw notFound('Channel');
      if (channel.id !== c.var.user.channel_id)
        throw forbidden('Only the channel owner may set its schedule');
      const input = c.req.valid('json');
      if (!isTimeZone(input.timezone)) throw unprocessable(`Unknown time zone: ${input.timezone}`);
      const overlap = findOverlap(input.segments);
      if (overlap) throw unprocessable(`Segments ${overlap[0]} and ${overlap[1]} overlap`);
      const categories = new Map<string, Category>();
      for (const ref of new Set(
        input.segments.flatMap((segment) => (segment.category === null ? [] : [segment.category])),
      )) {
        const category = await findCategory(c.env.DB, ref);
        if (!category) throw unprocessable(`Unknown category: ${ref}`);
        categories.set(ref, category);
      }
      const segments = input.segments
        .map((segment) => ({
          weekday: segment.weekday,
          start_time: segment.start_time,
          duration_minutes: segment.duration_minutes,
          title: segment.title,
          category: segment.category === null ? null : (categories.get(segment.category) ?? null),
        }))
        .sort((a, b) => toMinuteOfWeek(a.weekday, a.start_time) - toMinuteOfWeek(b.weekday, b.start_time));
      await c.env.DB.prepare(
        `INSERT INTO channel_schedules (channel_id, timezone, segments, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (channel_id) DO UPDATE SET timezone = ?2, segments = ?3, updated_at = ?4`,
      )
        .bind(channel.id, input.timezone, JSON.stringify(segments), Date.now())
        .run();
      return c.json({ timezone: input.timezone, segments }, 200);
    },
  );
