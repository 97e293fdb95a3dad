// AMF0 commands of the publish flow (RTMP 1.0 spec, section 7.2), parsed into a discriminated
// union, and the server's answers. Pure: no sockets here.
import { type Amf0Object, type Amf0Value, decodeAmf0Values, encodeAmf0, getAmf0Properties } from './amf0.ts';
import { COMMAND_CSID, MessageType, type RtmpMessage, STATUS_CSID } from './messages.ts';

export type RtmpCommand =
  | {
      readonly name: 'connect';
      readonly transactionId: number;
      readonly app: string;
      readonly backup: boolean;
      readonly relay: boolean;
    }
  | { readonly name: 'createStream'; readonly transactionId: number }
  | {
      readonly name: 'publish';
      readonly transactionId: number;
      readonly streamName: string;
      readonly backup: boolean;
      readonly relay: boolean;
    }
  | { readonly name: 'releaseStream' | 'FCPublish' | 'FCUnpublish'; readonly transactionId: number }
  | { readonly name: 'deleteStream' | 'closeStream'; readonly transactionId: number }
  | { readonly name: 'unknown'; readonly commandName: string; readonly transactionId: number };

export class CommandParseError extends Error {
  override readonly name = 'CommandParseError';
}

/** Parses an AMF0 (type 20) or AMF3 (type 17, AMF0 after a 0 format byte) command message. */
export function parseCommand(message: RtmpMessage): RtmpCommand {
  const payload = message.type === MessageType.COMMAND_AMF3 ? message.payload.subarray(1) : message.payload;
  const values = decodeAmf0Values(payload, { maxDepth: 4, maxStringLength: 4096 });
  const [name, transactionIdValue] = values;
  if (typeof name !== 'string') throw new CommandParseError('command name is not a string');
  const transactionId = typeof transactionIdValue === 'number' ? transactionIdValue : 0;
  switch (name) {
    case 'connect': {
      const properties = getAmf0Properties(values[2] ?? null);
      const app = properties?.app;
      if (typeof app !== 'string') throw new CommandParseError('connect without an app');
      return {
        name,
        transactionId,
        app: normalizeApp(app),
        backup: hasQueryFlag(app, 'backup'),
        relay: hasQueryFlag(app, 'relay'),
      };
    }
    case 'createStream':
      return { name, transactionId };
    case 'publish': {
      // "Command Object: null; Publishing Name; Publishing Type: live, record or append".
      const streamName = values[3];
      if (typeof streamName !== 'string') throw new CommandParseError('publish without a name');
      return {
        name,
        transactionId,
        streamName: stripQuery(streamName),
        backup: hasQueryFlag(streamName, 'backup'),
        relay: hasQueryFlag(streamName, 'relay'),
      };
    }
    case 'releaseStream':
    case 'FCPublish':
    case 'FCUnpublish':
    case 'deleteStream':
    case 'closeStream':
      return { name, transactionId };
    default:
      return { name: 'unknown', commandName: name.slice(0, 64), transactionId };
  }
}

/** `rtmp://host/live?x=1` and `rtmp://host/live/` both mean the app `live`. */
function normalizeApp(app: string): string {
  return stripQuery(app).replace(/\/+$/, '');
}

function stripQuery(value: string): string {
  const index = value.indexOf('?');
  return index === -1 ? value : value.slice(0, index);
}

/**
 * `backup=1` (or `true`) in the query of an app or a stream name marks the backup publish of a
 * dual publish (docs/deploy.md, "Dual publish"); YouTube's backup server address has that form.
 * `relay=1` marks a fleet node's relay of the source to a standby node ("Relayed standby").
 */
function hasQueryFlag(value: string, name: 'backup' | 'relay'): boolean {
  const index = value.indexOf('?');
  if (index === -1) return false;
  // The command's strings are bounded by the AMF0 decoder (4096 characters).
  const flag = new URLSearchParams(value.slice(index + 1)).get(name);
  return flag === '1' || flag === 'true';
}

function createCommandMessage(csid: number, streamId: number, values: readonly Amf0Value[]): RtmpMessage {
  return { csid, type: MessageType.COMMAND_AMF0, streamId, timestamp: 0, payload: encodeAmf0(...values) };
}

export function createConnectResult(transactionId: number): RtmpMessage {
  return createCommandMessage(COMMAND_CSID, 0, [
    '_result',
    transactionId,
    { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
    {
      level: 'status',
      code: 'NetConnection.Connect.Success',
      description: 'Connection succeeded.',
      // 0 = AMF0: the only encoding this server speaks.
      objectEncoding: 0,
    },
  ]);
}

export function createConnectRejected(transactionId: number, description: string): RtmpMessage {
  return createCommandMessage(COMMAND_CSID, 0, [
    '_error',
    transactionId,
    null,
    { level: 'error', code: 'NetConnection.Connect.Rejected', description },
  ]);
}

export function createStreamResult(transactionId: number, streamId: number): RtmpMessage {
  return createCommandMessage(COMMAND_CSID, 0, ['_result', transactionId, null, streamId]);
}

export function createOnStatus(streamId: number, info: Amf0Object): RtmpMessage {
  return createCommandMessage(STATUS_CSID, streamId, ['onStatus', 0, null, info]);
}
