// What an exchange with a server teaches the shared cells, the same for both front ends
// (session.ts for HTTP/1.1, http2/exchange.ts for HTTP/2 streams): passive health (consecutive
// failures eject a server for a growing back-off, seen by every thread) and the request rules
// that decide whether a failed request may be sent again. Worker threads only.

import { ServerCell, ServerCounter } from '../../shared/layout.ts'
import { ERRORS } from '../../shared/errors.ts'
import type { ErrorCode } from '../../shared/errors.ts'
import type { Cells } from '../../shared/cells.ts'
import type { UpstreamRuntime, WorkerContext } from '../context.ts'

/** Methods that may be sent again after a failure (RFC 9110 §9.2.2). */
export function isIdempotent(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE' || method === 'OPTIONS' || method === 'TRACE'
}

/**
 * May a request whose exchange failed with `code` go to another server? Only before anything of
 * the response reached the client, only if the request can be sent again (nothing of its body
 * went out, or all of it is buffered: `isReplayable`), only for errors where another server may do
 * better, and — unless the request never reached a server (connect failures) — only for
 * idempotent methods or replayable bodies. At most `retries` times.
 */
export function mayRetry(code: ErrorCode, method: string, hasSentResponse: boolean, hasSentBody: boolean,
  isReplayable: boolean, attempts: number, retries: number): boolean {
  if (!ERRORS[code].retryable || hasSentResponse || hasSentBody && !isReplayable || attempts > retries) return false
  return isIdempotent(method) || isReplayable || code === 'upstream_connect_failed' || code === 'upstream_connect_timeout'
}

/** A connection to `server` could not be made: count it, say why, and feed passive health. */
export function noteConnectFailure(ctx: WorkerContext, upstream: UpstreamRuntime, server: number, reason: string): void {
  ctx.cells.countServer(ctx.slot, server, ServerCounter.ConnectFailures, 1)
  const name = serverName(upstream, server)
  ctx.event('warn', { event: 'upstream_connect_failed', server: name, reason }, `cannot connect to ${name}: ${reason}`)
  noteServerFailure(ctx, upstream, server)
}

/** "upstream/server" for logs, or "-". */
export function serverName(upstream: UpstreamRuntime | null, server: number): string {
  if (upstream === null || server < 0) return '-'
  return `${upstream.config.name}/${upstream.config.servers[server - upstream.first].name}`
}

/**
 * A connect failure or a 5xx from `server`. After `eject_after` in a row (counted across all
 * threads in the Fails cell) the server is ejected for `eject_base`, doubling on each repeat up to
 * `eject_max`; the active checker (or a success) brings it back. Failures of requests that were
 * already in flight when it was ejected don't count: they would double the back-off for what is
 * one outage.
 */
export function noteServerFailure(ctx: WorkerContext, upstream: UpstreamRuntime, server: number): void {
  const cfg = upstream.config
  if (cfg.ejectAfter === 0 || server < 0) return
  const cells = ctx.cells
  if (cells.server(server, ServerCell.EjectUntil) > ctx.nowSec) return
  const fails = cells.addServer(server, ServerCell.Fails, 1) + 1
  if (fails % cfg.ejectAfter !== 0) return
  const round = fails / cfg.ejectAfter
  const backoffMs = Math.min(cfg.ejectMaxMs, cfg.ejectBaseMs * 2 ** Math.min(round - 1, 20))
  cells.setServer(server, ServerCell.EjectUntil, ctx.nowSec + Math.max(1, Math.ceil(backoffMs / 1000)))
  const name = serverName(upstream, server)
  ctx.event('warn', { event: 'server_ejected', server: name, fails, backoffMs },
    `server ${name} ejected for ${backoffMs}ms after ${fails} consecutive failures`)
}

/** A good response: the failure streak ends (one cell write, only when there was a streak). */
export function noteServerSuccess(cells: Cells, server: number): void {
  if (server >= 0 && cells.server(server, ServerCell.Fails) !== 0) cells.setServer(server, ServerCell.Fails, 0)
}
