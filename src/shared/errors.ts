// Every error portico reports about a request, as a stable code with its source, whether a retry
// on another server may help, and the status the client gets. Used by both threads. Only
// `toResponse` chooses a status; bodies are short and never show upstream internals.

export type ErrorSource = 'downstream' | 'upstream' | 'internal'

export interface ErrorKind {
  source: ErrorSource
  /** May the request be sent again to another server? (Still subject to method/buffering rules.) */
  retryable: boolean
  /** Status sent to the client; 0 = none (the client is gone, or the connection is just closed). */
  status: number
  /** Response body, one short line. */
  body: string
}

/** The code table. README's "Errors" section documents each code; a test checks they agree. */
export const ERRORS = {
  bad_request: { source: 'downstream', retryable: false, status: 400, body: 'bad request' },
  uri_too_long: { source: 'downstream', retryable: false, status: 414, body: 'request line too long' },
  head_too_large: { source: 'downstream', retryable: false, status: 431, body: 'request header fields too large' },
  body_too_large: { source: 'downstream', retryable: false, status: 413, body: 'request body too large' },
  not_implemented: { source: 'downstream', retryable: false, status: 501, body: 'not implemented' },
  no_route: { source: 'downstream', retryable: false, status: 404, body: 'no route for this request' },
  client_header_timeout: { source: 'downstream', retryable: false, status: 408, body: 'request head timeout' },
  client_aborted: { source: 'downstream', retryable: false, status: 0, body: '' },
  client_send_timeout: { source: 'downstream', retryable: false, status: 0, body: '' },
  upstream_connect_failed: { source: 'upstream', retryable: true, status: 502, body: 'upstream unreachable' },
  upstream_connect_timeout: { source: 'upstream', retryable: true, status: 502, body: 'upstream unreachable' },
  upstream_reset: { source: 'upstream', retryable: true, status: 502, body: 'upstream closed the connection' },
  upstream_bad_response: { source: 'upstream', retryable: false, status: 502, body: 'invalid response from upstream' },
  upstream_response_timeout: { source: 'upstream', retryable: false, status: 504, body: 'upstream timed out' },
  no_server_available: { source: 'upstream', retryable: false, status: 503, body: 'no server available' },
  queue_timeout: { source: 'upstream', retryable: false, status: 503, body: 'all servers busy' },
  internal_error: { source: 'internal', retryable: false, status: 500, body: 'internal error' },
} as const satisfies Record<string, ErrorKind>

export type ErrorCode = keyof typeof ERRORS

export class ProxyError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'ProxyError'
  }

  get kind(): ErrorKind {
    return ERRORS[this.code]
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 413: 'Content Too Large',
  414: 'URI Too Long', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}

const responseCache = new Map<ErrorCode, Buffer>()

/**
 * The complete HTTP/1.1 response for an error, closing the connection. Built once per code.
 * `close` is always set: after any error portico answers itself, the framing of what follows on
 * the connection can't be trusted (400) or the exchange is over.
 */
export function toResponse(code: ErrorCode): Buffer {
  let buf = responseCache.get(code)
  if (buf === undefined) {
    const kind = ERRORS[code]
    const body = kind.body + '\n'
    buf = Buffer.from(
      `HTTP/1.1 ${kind.status} ${STATUS_TEXT[kind.status]}\r\n` +
      `content-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`, 'latin1')
    responseCache.set(code, buf)
  }
  return buf
}

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? ''
}
