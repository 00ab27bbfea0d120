// The main thread's life: open logs and listen sockets, drop privileges, start the first
// generation and the process-wide services (health checks, runtime API sockets, metrics), then
// react to signals: HUP reload, TERM drain and exit, INT exit now, USR1 reopen logs.

import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { loadConfig, formatProblems } from '../shared/config/load.ts'
import type { Config } from '../shared/config/types.ts'
import { ListenerCell, ListenerCounter } from '../shared/layout.ts'
import { Generation } from './generation.ts'
import { Listeners, ListenError } from './listeners.ts'
import { openLogs } from './log.ts'
import type { Logs } from './log.ts'
import { dropPrivileges, PrivilegeError } from './privileges.ts'
import { startHealthChecker } from './health/checker.ts'
import { startRuntimeSockets } from './runtime/server.ts'
import type { RuntimeContext } from './runtime/context.ts'
import { startMetricsServer } from './metrics.ts'

interface Closable { close(): Promise<void> }

export class Main {
  readonly file: string
  readonly version: string
  readonly logs: Logs
  readonly startedAtMs = Date.now()
  current: Generation
  private readonly listeners: Listeners
  private readonly old = new Set<Generation>()
  private readonly ticketKeys = randomBytes(48)
  private health: { stop(): void } | null = null
  private runtime: Closable | null = null
  private metrics: Closable | null = null
  private nextGeneration = 2
  private isReloading = false
  private isStopping = false
  /** Binds ("host:port") → listener index in the current generation. */
  private bindIndex = new Map<string, number>()

  constructor(config: Config, file: string, version: string, logs: Logs) {
    this.file = file
    this.version = version
    this.logs = logs
    this.listeners = new Listeners((socket, bind) => this.onAccept(socket, bind))
    this.current = new Generation(1, config, logs, null, this.ticketKeys)
    this.indexBinds()
  }

  private indexBinds(): void {
    this.bindIndex = new Map(this.current.config.listeners.map((l, i) => [l.bind, i]))
  }

  async start(): Promise<void> {
    const config = this.current.config
    await this.listeners.apply(config.listeners)
    const ctx = this.context()
    this.runtime = await startRuntimeSockets(ctx, config.runtime)
    // Sockets and ports are bound: now give up root, before any traffic is handled.
    dropPrivileges(config.global, [config.runtime.statsSocket, config.runtime.adminSocket])
    if (config.runtime.metrics !== null) this.metrics = await startMetricsServer(config.runtime.metrics, ctx)
    this.health = startHealthChecker(config, this.current.cells, this.logs.error)
    this.logs.error.info({
      event: 'started', version: this.version, workers: config.global.workers,
      listeners: config.listeners.map((l) => `${l.name}=${l.bind}`),
    }, `portico ${this.version} serving ${config.listeners.map((l) => l.bind).join(', ')} with ${config.global.workers} worker threads`)
  }

  context(): RuntimeContext {
    return {
      current: () => ({ config: this.current.config, cells: this.current.cells, generation: this.current.id }),
      reload: () => this.reload(),
      workers: () => [...this.old, this.current].flatMap((g) => g.workers()),
      startedAtMs: this.startedAtMs,
      version: this.version,
      log: this.logs.error,
    }
  }

  private onAccept(socket: Socket, bind: string): void {
    const gen = this.current
    const index = this.bindIndex.get(bind) ?? -1
    const cells = gen.cells
    if (index < 0 || this.isStopping || cells.listener(index, ListenerCell.Enabled) === 0) {
      socket.destroy()
      return
    }
    if (this.openConnections() >= gen.config.global.maxConnections) {
      // Over the process-wide limit: close at once rather than queue work we can't take.
      cells.countListener(cells.mainShard, index, ListenerCounter.Refused, 1)
      socket.destroy()
      return
    }
    gen.dispatch(socket, index)
  }

  private openConnections(): number {
    let n = this.current.connections
    for (const g of this.old) n += g.connections
    return n
  }

  /**
   * Read and validate the file again; if valid, start a new generation, switch new connections
   * to it and drain the old one. On any problem the running config keeps serving.
   */
  async reload(): Promise<{ ok: boolean; message: string }> {
    if (this.isStopping) return { ok: false, message: 'stopping' }
    if (this.isReloading) return { ok: false, message: 'a reload is already running' }
    this.isReloading = true
    try {
      const { config, problems } = loadConfig(this.file)
      if (config === null || problems.length > 0) {
        const text = formatProblems(this.file, problems)
        this.logs.error.error({ event: 'reload_failed', problems }, `reload refused, still serving the previous config:\n${text}`)
        return { ok: false, message: text }
      }
      const previous = this.current
      const next = new Generation(this.nextGeneration++, config, this.logs, previous, this.ticketKeys)
      try {
        await this.listeners.apply(config.listeners)
      } catch (err) {
        await next.destroy()
        const message = err instanceof ListenError ? err.message : String(err)
        this.logs.error.error({ event: 'reload_failed' }, `reload refused, still serving the previous config: ${message}`)
        return { ok: false, message }
      }
      this.current = next
      this.indexBinds()
      this.health?.stop()
      this.health = startHealthChecker(config, next.cells, this.logs.error)
      this.old.add(previous)
      this.logs.error.info({ event: 'reloaded', generation: next.id }, `configuration reloaded: generation ${next.id}`)
      previous.drain(config.global.drainTimeoutMs).then(() => {
        this.old.delete(previous)
        this.logs.error.info({ event: 'generation_drained', generation: previous.id }, `generation ${previous.id} drained`)
      }, () => {})
      return { ok: true, message: `generation ${next.id}` }
    } catch (err) {
      this.logs.error.error({ event: 'reload_failed', err }, `reload failed, still serving the previous config: ${(err as Error).message}`)
      return { ok: false, message: (err as Error).message }
    } finally {
      this.isReloading = false
    }
  }

  /** Graceful stop: no new connections, in-flight requests finish (bounded by drain_timeout). */
  async stop(): Promise<void> {
    if (this.isStopping) return
    this.isStopping = true
    this.logs.error.info({ event: 'stopping' }, 'stopping: draining connections')
    this.listeners.closeAll()
    this.health?.stop()
    await Promise.all([this.runtime?.close(), this.metrics?.close()])
    const timeout = this.current.config.global.drainTimeoutMs
    await Promise.all([this.current, ...this.old].map((g) => g.drain(timeout)))
    this.logs.error.info({ event: 'stopped' }, 'stopped')
    this.logs.flush()
  }
}

/** Returns -1 once running (the process then lives on its sockets), or an exit code. */
export async function runMain(config: Config, file: string, version: string): Promise<number> {
  const logs = openLogs(config.log)
  const main = new Main(config, file, version, logs)
  try {
    await main.start()
  } catch (err) {
    const message = err instanceof ListenError || err instanceof PrivilegeError ? err.message : (err as Error).stack ?? String(err)
    process.stderr.write(`portico: ${message}\n`)
    logs.flush()
    process.exit(1)
  }
  process.on('SIGHUP', () => { void main.reload() })
  process.on('SIGUSR1', () => logs.reopen())
  process.on('SIGTERM', () => {
    main.stop().then(() => process.exit(0), () => process.exit(1))
  })
  process.on('SIGINT', () => {
    logs.error.info({ event: 'stopped' }, 'stopped by SIGINT')
    logs.flush()
    process.exit(130)
  })
  return -1
}
