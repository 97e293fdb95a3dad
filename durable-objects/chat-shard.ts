import { DurableObject } from 'cloudflare:workers';

export class ChatShard extends DurableObject<Env> {}
