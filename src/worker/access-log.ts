// The access-log line of one request, the same for both front ends (session.ts for HTTP/1.1,
// http2/exchange.ts for HTTP/2 streams): JSON, shipped to the main thread through this worker's
// ring and written by pino there (src/main/generation.ts). Worker threads only; built only when
// `[log] access` is not "off".

import type { WorkerContext, UpstreamRuntime } from './context.ts'
import type { CompiledRoute } from './router.ts'

/** What a request keeps about itself for its log line (fields both front ends have, same names). */
export interface Traced {
  route: CompiledRoute | null
  upstream: UpstreamRuntime | null
  /** Global server index, or -1. */
  server: number
  /** Status sent to the client; 0 when none was. */
  status: number
  bytesIn: number
  bytesOut: number
  queueMs: number
  /** Date.now() when the last new upstream connection was started / established (0: none, or reused). */
  connectStartMs: number
  connectedMs: number
  /** Date.now() at the response head, 0 without one. */
  headMs: number
  startMs: number
  attempts: number
}

export function writeAccessLog(ctx: WorkerContext, t: Traced, listener: number, client: string, method: string, path: string): void {
  const now = Date.now()
  const upstream = t.upstream
  const server = t.server
  ctx.accessLog(JSON.stringify({
    time: new Date(now).toISOString(),
    client,
    listener: ctx.config.listeners[listener].name,
    method,
    path,
    route: t.route === null ? '-' : t.route.config.name,
    upstream: upstream === null ? '-' : upstream.config.name,
    server: upstream !== null && server >= 0 ? upstream.config.servers[server - upstream.first].name : '-',
    status: t.status,
    bytes_in: t.bytesIn,
    bytes_out: t.bytesOut,
    queue_ms: t.queueMs,
    connect_ms: t.connectedMs === 0 ? 0 : t.connectedMs - t.connectStartMs,
    head_ms: t.headMs === 0 ? -1 : t.headMs - t.startMs,
    total_ms: now - t.startMs,
    attempts: t.attempts,
  }))
}
