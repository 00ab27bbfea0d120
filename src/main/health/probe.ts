// One active HTTP health probe: a fresh TCP connection (TLS for a server with `tls = true`, with
// the same SNI, CAs and verification as the worker threads' connections), one raw HTTP/1.1 GET, and
// the status code from the first line of the answer. Main thread only (health/checker.ts). Probes run at a low rate
// (one per server per interval), so a closure per probe is fine here; what matters is that every
// socket is destroyed and every timer cleared, whatever happens first.

import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ConnectionOptions } from 'node:tls'
import type { UpstreamTls } from '../../shared/config/types.ts'

/**
 * Why a probe got no acceptable status code. A status outside the expected range is the checker's
 * call. 'tls': the TCP connection opened but the TLS handshake or certificate check failed.
 */
export type ProbeFailure = 'timeout' | 'refused' | 'reset' | 'invalid response' | 'unreachable' | 'tls'

export interface ProbeTarget {
  host: string
  port: number
  /** Request target, e.g. "/health". */
  path: string
  /** Host header value. */
  hostHeader: string
  /** Bound on connect + status line, together. */
  timeoutMs: number
  /** TLS as the server's connections use it (ServerConfig.tls); absent or null = plain TCP. */
  tls?: UpstreamTls | null
}

export interface ProbeResult {
  /** 100..599, or 0 when `failure` is set. */
  statusCode: number
  failure: ProbeFailure | null
  elapsedMs: number
}

/** A probe in flight; `cancel()` destroys its socket and clears its timer without reporting. */
export interface ProbeHandle {
  cancel(): void
}

/** A status line longer than this is not one (HAProxy reads checks into a small buffer too). */
export const MAX_STATUS_LINE_BYTES = 1024

// RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. Many servers drop the
// SP after the code when the reason is empty, so it is optional. Codes outside 100..599 are invalid
// (RFC 9110 §15). The reason phrase is HTAB / SP / VCHAR / obs-text, read as latin1.
const STATUS_LINE = /^HTTP\/1\.[01] ([1-5][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?$/

/**
 * The status code of a complete first line (without its CRLF), or 0 when it is not a valid
 * HTTP/1.x status line.
 */
export function parseStatusLine(line: string): number {
  const m = STATUS_LINE.exec(line)
  return m === null ? 0 : Number(m[1])
}

/** Map a socket error code to the reason we log. */
export function failureOf(code: string | undefined): ProbeFailure {
  switch (code) {
    case 'ECONNREFUSED': return 'refused'
    case 'ETIMEDOUT': return 'timeout'
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EADDRNOTAVAIL': case 'ENOTFOUND': case 'EAI_AGAIN':
      return 'unreachable'
    default: return 'reset' // ECONNRESET, EPIPE and anything else after the connection existed
  }
}

/** Host header / request bytes. The path and host come from validated config. */
export function probeRequest(path: string, hostHeader: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: portico-health\r\nAccept: */*\r\nConnection: close\r\n\r\n`
}

/**
 * Start one probe. `onDone` is called exactly once, unless the probe is cancelled first; by then the
 * socket has been destroyed and the timer cleared.
 */
export function probe(target: ProbeTarget, onDone: (result: ProbeResult) => void): ProbeHandle {
  const startedMs = performance.now()
  let received: Buffer | null = null
  let isSettled = false

  const tls = target.tls ?? null
  let isTcpConnected = false
  let isSecure = false
  const socket: Socket = tls === null ? connect({ host: target.host, port: target.port }) : tlsConnect(tlsOptions(target, tls))
  const timer = setTimeout(() => finish(0, 'timeout'), target.timeoutMs)

  function finish(statusCode: number, failure: ProbeFailure | null): void {
    if (isSettled) return
    isSettled = true
    clearTimeout(timer)
    socket.destroy()
    onDone({ statusCode, failure, elapsedMs: performance.now() - startedMs })
  }

  socket.setNoDelay(true)
  socket.on('connect', () => {
    isTcpConnected = true
    if (tls === null) socket.write(probeRequest(target.path, target.hostHeader))
  })
  socket.on('secureConnect', () => {
    isSecure = true
    socket.write(probeRequest(target.path, target.hostHeader))
  })
  socket.on('data', (chunk: Buffer) => {
    received = received === null ? chunk : Buffer.concat([received, chunk])
    const lf = received.indexOf(0x0a)
    if (lf === -1) {
      if (received.length > MAX_STATUS_LINE_BYTES) finish(0, 'invalid response')
      return
    }
    // Bare LF is not a line ending we accept (RFC 9112 §2.2 allows it; we check strictly, as
    // portico's own parser does for requests).
    if (lf === 0 || received[lf - 1] !== 0x0d || lf > MAX_STATUS_LINE_BYTES) {
      finish(0, 'invalid response')
      return
    }
    const statusCode = parseStatusLine(received.toString('latin1', 0, lf - 1))
    finish(statusCode, statusCode === 0 ? 'invalid response' : null)
  })
  socket.on('error', (err: NodeJS.ErrnoException) => finish(0, tls !== null && isTcpConnected && !isSecure ? 'tls' : failureOf(err.code)))
  // The server closed before a full status line: nothing at all reads as a reset, a partial line as
  // garbage.
  socket.on('close', () => finish(0, received === null ? 'reset' : 'invalid response'))

  return { cancel: () => { isSettled = true; clearTimeout(timer); socket.destroy() } }
}

/**
 * tls.connect options for a probe. The CA file is read per probe: checks are rare, and a CA file
 * replaced on disk then takes effect with the next check, as it does for the next generation's
 * worker threads. A CA file that cannot be read trusts nothing (the check fails as 'tls').
 */
function tlsOptions(target: ProbeTarget, tls: UpstreamTls): ConnectionOptions {
  let ca: Buffer | string[] | undefined
  if (tls.caFile !== null) {
    try {
      ca = readFileSync(tls.caFile)
    } catch {
      ca = []
    }
  }
  return {
    host: target.host,
    port: target.port,
    servername: tls.sni ?? undefined,
    ca,
    rejectUnauthorized: tls.verify,
    ALPNProtocols: ['http/1.1'],
  }
}
