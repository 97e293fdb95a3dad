import { DurableObject } from 'cloudflare:workers';

export class LiveStream extends DurableObject<Env> {}
