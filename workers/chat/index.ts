import { Hono } from 'hono';
import { handleError } from '../shared/errors.ts';

export const chatApp = new Hono<{ Bindings: Env }>();
chatApp.onError(handleError);
