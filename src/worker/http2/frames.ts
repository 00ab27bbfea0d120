// HTTP/2 wire constants (RFC 9113 §6, §7, §11) and the frame header, for portico's own HTTP/2
// server layer (connection.ts, stream.ts). Worker threads only.

/** RFC 9113 §3.4: what an HTTP/2 client sends first. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

export const FRAME_HEADER_BYTES = 9

export const FrameType = {
  Data: 0x0,
  Headers: 0x1,
  Priority: 0x2,
  RstStream: 0x3,
  Settings: 0x4,
  PushPromise: 0x5,
  Ping: 0x6,
  GoAway: 0x7,
  WindowUpdate: 0x8,
  Continuation: 0x9,
} as const

export const Flag = {
  EndStream: 0x1,
  Ack: 0x1,
  EndHeaders: 0x4,
  Padded: 0x8,
  Priority: 0x20,
} as const

/** RFC 9113 §7 error codes. */
export const H2Error = {
  NoError: 0x0,
  Protocol: 0x1,
  Internal: 0x2,
  FlowControl: 0x3,
  SettingsTimeout: 0x4,
  StreamClosed: 0x5,
  FrameSize: 0x6,
  RefusedStream: 0x7,
  Cancel: 0x8,
  Compression: 0x9,
  Connect: 0xa,
  EnhanceYourCalm: 0xb,
  InadequateSecurity: 0xc,
  Http11Required: 0xd,
} as const

export const Setting = {
  HeaderTableSize: 0x1,
  EnablePush: 0x2,
  MaxConcurrentStreams: 0x3,
  InitialWindowSize: 0x4,
  MaxFrameSize: 0x5,
  MaxHeaderListSize: 0x6,
} as const

/** The protocol's defaults (RFC 9113 §6.5.2), before any SETTINGS. */
export const DEFAULT_WINDOW = 65535
export const DEFAULT_MAX_FRAME = 16384
export const MAX_FRAME_LIMIT = 16777215
export const MAX_WINDOW = 2147483647

export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  buf[at] = length >>> 16
  buf[at + 1] = (length >>> 8) & 0xff
  buf[at + 2] = length & 0xff
  buf[at + 3] = type
  buf[at + 4] = flags
  buf.writeUInt32BE(streamId, at + 5)
}
