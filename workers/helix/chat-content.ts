// Helix emotes, badges and sending chat (dev.twitch.tv/docs/api/reference#send-chat-message).
// Messages go through the channel's ChatRoom like any chat line (rules, bans, slow mode, rate).
import { Hono } from 'hono';
import { z } from 'zod';
import { HelixError, type HelixVariables, requireScope, requireSelf } from './auth.ts';
import { readRequired } from './params.ts';

const EmoteRow = z.object({ id: z.string(), name: z.string(), subscriber_only: z.number() });

/** Badge sets this platform shows (durable-objects/chat/badges.ts), with Twitch's titles. */
const GLOBAL_BADGES = [
  ['broadcaster', 'Broadcaster'],
  ['moderator', 'Moderator'],
  ['vip', 'VIP'],
  ['partner', 'Verified'],
] as const;

/** Twitch's emote CDN template, pointed at this platform's emote images (workers/api/routes/emotes.ts). */
function describeEmote(origin: string, row: z.infer<typeof EmoteRow>, channel: boolean) {
  const url = `${origin}/api/v1/emotes/${encodeURIComponent(row.id)}/image`;
  return {
    id: row.id,
    name: row.name,
    images: { url_1x: url, url_2x: url, url_4x: url },
    format: ['static'],
    scale: ['1.0'],
    theme_mode: ['light', 'dark'],
    ...(channel
      ? {
          tier: row.subscriber_only ? '1000' : '',
          emote_type: row.subscriber_only ? 'subscriptions' : 'follower',
          emote_set_id: '',
        }
      : {}),
  };
}

async function findChannelId(db: D1Database, broadcasterId: string): Promise<string> {
  const row = await db.prepare('SELECT id FROM channels WHERE user_id = ?').bind(broadcasterId).first();
  if (row === null) throw new HelixError(400, 'The ID in broadcaster_id is not valid');
  return z.object({ id: z.string() }).parse(row).id;
}

const SendMessageBody = z.object({
  broadcaster_id: z.string().min(1).max(100),
  sender_id: z.string().min(1).max(100),
  message: z.string().min(1).max(500),
  reply_parent_message_id: z.string().max(100).optional(),
});

export const helixChatContentApp = new Hono<{ Bindings: Env; Variables: HelixVariables }>()
  .get('/chat/emotes/global', async (c) => {
    const { results } = await c.env.DB.prepare(
      'SELECT id, name, subscriber_only FROM emotes WHERE channel_id IS NULL ORDER BY name LIMIT 500',
    ).all();
    const origin = new URL(c.req.url).origin;
    const data = results.map((raw) => describeEmote(origin, EmoteRow.parse(raw), false));
    return c.json({ data, template: `${origin}/api/v1/emotes/{{id}}/image` });
  })
  .get('/chat/emotes', async (c) => {
    const channelId = await findChannelId(c.env.DB, readRequired(c, 'broadcaster_id'));
    const { results } = await c.env.DB.prepare(
      'SELECT id, name, subscriber_only FROM emotes WHERE channel_id = ? ORDER BY name LIMIT 500',
    )
      .bind(channelId)
      .all();
    const origin = new URL(c.req.url).origin;
    const data = results.map((raw) => describeEmote(origin, EmoteRow.parse(raw), true));
    return c.json({ data, template: `${origin}/api/v1/emotes/{{id}}/image` });
  })
  .get('/chat/badges/global', (c) =>
    c.json({
      data: GLOBAL_BADGES.map(([setId, title]) => ({
        set_id: setId,
        versions: [
          { id: '1', image_url_1x: '', image_url_2x: '', image_url_4x: '', title, description: title },
        ],
      })),
    }),
  )
  .get('/chat/badges', async (c) => {
    await findChannelId(c.env.DB, readRequired(c, 'broadcaster_id'));
    // Subscriber badges are versioned by months (badges.ts); no custom channel art exists yet.
    const versions = ['0', '3', '6', '12', '24'].map((id) => ({
      id,
      image_url_1x: '',
      image_url_2x: '',
      image_url_4x: '',
      title: 'Subscriber',
      description: 'Subscriber',
    }));
    return c.json({ data: [{ set_id: 'subscriber', versions }] });
  })
  .post('/chat/messages', async (c) => {
    requireScope(c, 'user:write:chat');
    const parsed = SendMessageBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) throw new HelixError(400, 'The request body is malformed');
    const body = parsed.data;
    const userId = requireSelf(c, 'sender_id', body.sender_id);
    const login = c.get('token').login ?? '';
    const channelId = await findChannelId(c.env.DB, body.broadcaster_id);
    // Twitch's send-chat-message does not run chat commands; here a "/ban" sent with only
    // user:write:chat would otherwise moderate without moderator:manage:banned_users.
    if (/^[/.]/.test(body.message)) {
      return c.json({
        data: [
          {
            message_id: '',
            is_sent: false,
            drop_reason: {
              code: 'msg_commands_unsupported',
              message: 'Chat commands are not supported here',
            },
          },
        ],
      });
    }
    const result = await c.env.CHAT_ROOM.getByName(channelId).submit(
      channelId,
      { userId, login },
      body.message,
    );
    if (result.kind === 'accepted')
      return c.json({ data: [{ message_id: result.messageId, is_sent: true }] });
    return c.json({
      data: [{ message_id: '', is_sent: false, drop_reason: { code: result.code, message: result.message } }],
    });
  });
