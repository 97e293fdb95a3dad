import { Hono } from 'hono';
import { handleError } from '../shared/errors.ts';

export const originApp = new Hono<{ Bindings: Env }>();
originApp.onError(handleError);
