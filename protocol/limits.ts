// Input limits the API enforces (workers/api/routes/) and the web app's forms show before anything is
// sent, declared once here so the two cannot drift. Pure constants: the Worker, the Durable Objects
// and the browser bundle all import this file. Chat limits live beside the chat frames in chat.ts.

/** Twitch allows emote images up to 1 MiB at upload; ours are served as-is, so keep them small. */
export const MAX_EMOTE_BYTES = 256 * 1024;
/** An emote's name is the word that turns into the image in chat: 2–25 letters or digits. */
export const EMOTE_NAME_PATTERN = '[A-Za-z0-9]{2,25}';
/** Emote images are served as uploaded, so only formats every browser renders are taken. */
export const EMOTE_IMAGE_TYPES = ['image/png', 'image/gif', 'image/webp'] as const;

/** Usernames (logins) are 3–25 letters, digits or underscores, as on Twitch. */
export const USERNAME_PATTERN = '[A-Za-z0-9_]{3,25}';
export const MIN_PASSWORD_LENGTH = 8;
/** Bounds the PBKDF2 input; longer passphrases add nothing a 128-character one lacks. */
export const MAX_PASSWORD_LENGTH = 128;

/** Stream, channel and clip titles, as on Twitch. */
export const MAX_TITLE_LENGTH = 140;

/** Category box art (operators upload it): served as uploaded, so small and in a format every browser renders. */
export const MAX_BOX_ART_BYTES = 256 * 1024;
export const BOX_ART_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
/** Tags as streams carry them (and the directory filters by): 1-25 characters, no control characters. */
export const MAX_TAG_LENGTH = 25;
