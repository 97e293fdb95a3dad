// RTMP message types and the protocol control / user control messages the server sends
// (RTMP 1.0 spec, sections 5.4 and 6.2). Pure builders, no I/O.

export const MessageType = {
  SET_CHUNK_SIZE: 1,
  ABORT: 2,
  ACKNOWLEDGEMENT: 3,
  USER_CONTROL: 4,
  WINDOW_ACK_SIZE: 5,
  SET_PEER_BANDWIDTH: 6,
  AUDIO: 8,
  VIDEO: 9,
  DATA_AMF3: 15,
  COMMAND_AMF3: 17,
  DATA_AMF0: 18,
  COMMAND_AMF0: 20,
} as const;

export const UserControlEvent = {
  STREAM_BEGIN: 0,
  STREAM_EOF: 1,
  SET_BUFFER_LENGTH: 3,
  PING_REQUEST: 6,
  PING_RESPONSE: 7,
} as const;

/** "Protocol control messages MUST have message stream ID 0 [...] and be sent in chunk stream ID 2." */
export const PROTOCOL_CONTROL_CSID = 2;
/** Chunk stream the server answers commands on; any csid above 2 is allowed, 3 is what FMS uses. */
export const COMMAND_CSID = 3;
/** Chunk stream for onStatus on the publishing stream. */
export const STATUS_CSID = 5;

/** One complete RTMP message, reassembled from its chunks. */
export interface RtmpMessage {
  readonly csid: number;
  readonly type: number;
  readonly streamId: number;
  /** Absolute timestamp in ms, modulo 2^32. */
  readonly timestamp: number;
  readonly payload: Buffer;
}

function createControlMessage(type: number, payload: Buffer): RtmpMessage {
  return { csid: PROTOCOL_CONTROL_CSID, type, streamId: 0, timestamp: 0, payload };
}

function createUint32Payload(value: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(value >>> 0, 0);
  return payload;
}

export function createSetChunkSize(size: number): RtmpMessage {
  return createControlMessage(MessageType.SET_CHUNK_SIZE, createUint32Payload(size));
}

export function createWindowAckSize(size: number): RtmpMessage {
  return createControlMessage(MessageType.WINDOW_ACK_SIZE, createUint32Payload(size));
}

export function createAcknowledgement(sequenceNumber: number): RtmpMessage {
  return createControlMessage(MessageType.ACKNOWLEDGEMENT, createUint32Payload(sequenceNumber));
}

/** Limit type 2 is "Dynamic": the peer may treat it as hard or ignore it, as it sees fit. */
export function createSetPeerBandwidth(size: number, limitType: 0 | 1 | 2 = 2): RtmpMessage {
  const payload = Buffer.alloc(5);
  payload.writeUInt32BE(size >>> 0, 0);
  payload[4] = limitType;
  return createControlMessage(MessageType.SET_PEER_BANDWIDTH, payload);
}

export function createUserControl(event: number, value: number): RtmpMessage {
  const payload = Buffer.alloc(6);
  payload.writeUInt16BE(event, 0);
  payload.writeUInt32BE(value >>> 0, 2);
  return createControlMessage(MessageType.USER_CONTROL, payload);
}
