// The main thread's life: open logs and listen sockets, drop privileges, start the first
// generation and the process-wide services (health checks, runtime API sockets, metrics), then
// react to signals (signals.ts): HUP reload, TERM drain and exit, INT exit now, USR1 reopen logs.

import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import { loadConfig, formatProblems } from '../shared/config/load.ts'
import type { Config } from '../shared/config/types.ts'
import { ListenerCell, ListenerCounter } from '../shared/layout.ts'
import { startIdleGc } from '../shared/idle-gc.ts'
import { Generation, standalone } from './generation.ts'
import { Listeners, ListenError } from './listeners.ts'
import { openLogs } from './log.ts'
import type { Logs } from './log.ts'
import { dropPrivileges, PrivilegeError } from './privileges.ts'
import { startHealthChecker } from './health/checker.ts'
import { startRuntimeSockets } from './runtime/server.ts'
import type { RuntimeContext } from './runtime/context.ts'
import { startMetricsServer } from './metrics.ts'
import { installSignals } from './signals.ts'

interface Closable { close(): Promise<void> }

export interface ReloadResult { ok: boolean; message: string }

/**
 * How long a generation's threads may take to load the worker module. Type stripping every .ts
 * file takes ~0.3 s per thread on an idle machine and several seconds on a loaded one.
 */
const WORKER_START_TIMEOUT_MS = 30_000
/** accept = "workers": how long the main thread waits for every thread to listen before stepping out. */
const WORKER_LISTEN_WAIT_MS = 10_000
/** 1: Linux moves connections queued on a closing SO_REUSEPORT socket to the group's others. */
const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req'
/** Accepted sockets held while nothing may serve them yet (before privileges are dropped, or a listener opened by a reload not switched yet). */
const MAX_HELD_SOCKETS = 4096

/** A failure before serving (worker threads that do not start): exit 1 with this message. */
export class StartError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StartError'
  }
}

export class Main {
  readonly file: string
  readonly version: string
  readonly logs: Logs
  readonly startedAtMs = Date.now()
  current: Generation
  private readonly listeners: Listeners
  /** Generations still draining. */
  private readonly old = new Set<Generation>()
  private readonly ticketKeys = randomBytes(48)
  private health: { stop(): void } | null = null
  private runtime: Closable | null = null
  private metrics: Closable | null = null
  private nextGeneration = 2
  /** The reload running now, and the one queued behind it (at most one: it reads the file when it runs). */
  private reloading: Promise<ReloadResult> | null = null
  private queuedReload: Promise<ReloadResult> | null = null
  /** Privileges are dropped and generation 1 is up: accepted sockets go to worker threads. */
  private isServing = false
  /** A reload was asked for while starting: run it right after (the file may have changed). */
  private isReloadAfterStart = false
  private isStopping = false
  /** The tcp_migrate_req advice was logged (once per process). */
  private hasWarnedMigration = false
  /**
   * Keeps the process alive while it serves: with accept = "workers" the main thread may hold no
   * socket of its own, and piscina's threads do not keep the event loop up.
   */
  private lifeline: NodeJS.Timeout | null = null
  private stopped: Promise<void> | null = null
  /** Sockets accepted while they cannot be dispatched yet (see MAX_HELD_SOCKETS); never read. */
  private held: Array<{ socket: Socket; bind: string }> = []
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

  /**
   * Bind everything that may need root (listen sockets, runtime sockets, the metrics port), drop
   * privileges, wait for the worker threads, then serve. Connections accepted before that wait in
   * the kernel's accept queue or, once accepted, untouched in `held`: no traffic is handled as root.
   */
  async start(): Promise<void> {
    const config = this.current.config
    await this.listeners.apply(config.listeners)
    const ctx = this.context()
    this.runtime = await startRuntimeSockets(ctx, config.runtime)
    if (config.runtime.metrics !== null) this.metrics = await startMetricsServer(config.runtime.metrics, ctx)
    const extracted = standalone()
    dropPrivileges(config.global, [config.runtime.statsSocket, config.runtime.adminSocket, ...(extracted === null ? [] : [extracted.dir, ...extracted.files])])
    const ready = await this.current.ready(WORKER_START_TIMEOUT_MS)
    if (!ready.ok) throw new StartError(ready.message)
    this.health = startHealthChecker(config, this.current.cells, this.logs.error)
    this.isServing = true
    this.lifeline = setInterval(() => {}, 1 << 30)
    this.current.serve()
    this.releaseHeld()
    // Before saying "started": closing our socket later could reset connections queued on it.
    await this.stepOutOfWorkerListeners(this.current)
    this.logs.error.info({
      event: 'started', version: this.version, workers: config.global.workers,
      listeners: config.listeners.map((l) => `${l.name}=${l.bind}`),
    }, `portico ${this.version} serving ${config.listeners.map((l) => l.bind).join(', ')} with ${config.global.workers} worker threads`)
    if (this.isReloadAfterStart) void this.reload()
    startIdleGc(() => this.current.config.global.idleGc, (pauseMs, freedBytes) => {
      const ms = Math.round(pauseMs)
      const mib = Math.round(freedBytes / 1048576)
      this.logs.error.debug({ event: 'idle_gc', thread: 'main', pauseMs: ms, freedMiB: mib },
        `main thread quiet after a burst: full GC, ${mib} MiB of heap given back in ${ms} ms`)
    })
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
    if (this.isStopping) {
      socket.destroy()
      return
    }
    const index = this.bindIndex.get(bind) ?? -1
    // Not servable yet: before privileges are dropped, or on a listener a reload has opened but not
    // switched to. Hold it (paused, unread) rather than refuse it; the reload ends either way.
    if (!this.isServing || index < 0) {
      if (this.held.length < MAX_HELD_SOCKETS && (!this.isServing || this.reloading !== null)) this.held.push({ socket, bind })
      else socket.destroy()
      return
    }
    const gen = this.current
    const cells = gen.cells
    if (cells.listener(index, ListenerCell.Enabled) === 0) {
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

  /** Dispatch what was held, now that the current generation is settled; refuse what it has no listener for. */
  private releaseHeld(): void {
    const held = this.held
    this.held = []
    for (const h of held) {
      if (this.bindIndex.has(h.bind)) this.onAccept(h.socket, h.bind)
      else h.socket.destroy()
    }
  }

  /** Client connections open on every generation, whichever thread accepted them. */
  private openConnections(): number {
    let n = this.current.openConnections()
    for (const g of this.old) n += g.openConnections()
    return n
  }

  /**
   * Read and validate the file again; if valid, start a new generation, wait for its threads,
   * switch new connections to it and drain the old one. On any problem the running config keeps
   * serving and the problem is logged. Never rejects. A reload asked for while one runs is
   * queued (once): it reads the file after the running one ends, so the last write wins.
   */
  reload(): Promise<ReloadResult> {
    if (this.isStopping) return Promise.resolve({ ok: false, message: 'stopping' })
    if (!this.isServing) {
      this.isReloadAfterStart = true
      return Promise.resolve({ ok: false, message: 'still starting: reloading once started' })
    }
    if (this.reloading === null) {
      this.reloading = this.runReload().finally(() => { this.reloading = null })
      return this.reloading
    }
    if (this.queuedReload === null) {
      this.queuedReload = this.reloading.then(() => {
        this.queuedReload = null
        return this.reload()
      })
    }
    return this.queuedReload
  }

  private async runReload(): Promise<ReloadResult> {
    const log = this.logs.error
    try {
      const { config, problems } = loadConfig(this.file)
      if (config === null || problems.length > 0) {
        let text = formatProblems(this.file, problems)
        const user = this.current.config.global.user
        if (user !== null && problems.some((p) => /permission denied/i.test(p.message))) {
          text += `\n(portico runs as global.user "${user}" once started: the config file and what it names must be readable by that user)`
        }
        log.error({ event: 'reload_failed', problems }, `reload refused, still serving the previous config:\n${text}`)
        return { ok: false, message: text }
      }
      const previous = this.current
      this.warnRestartOnly(previous.config, config)
      const next = new Generation(this.nextGeneration++, config, this.logs, previous, this.ticketKeys)
      const ready = await next.ready(WORKER_START_TIMEOUT_MS)
      let opened: string[] = []
      let failure = ready.ok ? null : ready.message
      if (failure === null) {
        try {
          opened = await this.listeners.openMissing(config.listeners)
        } catch (err) {
          failure = err instanceof ListenError ? err.message : String(err)
        }
      }
      if (failure === null && this.isStopping) failure = 'stopping'
      if (failure !== null) {
        this.listeners.closeBinds(opened)
        this.releaseHeld()
        await next.destroy()
        log.error({ event: 'reload_failed', generation: next.id }, `reload refused, still serving the previous config: ${failure}`)
        return { ok: false, message: failure }
      }
      // The switch: from here new connections go to `next`.
      this.current = next
      next.serve()
      void this.stepOutOfWorkerListeners(next)
      this.indexBinds()
      this.releaseHeld()
      this.listeners.closeExcept(config.listeners)
      this.health?.stop()
      this.health = startHealthChecker(config, next.cells, log)
      this.old.add(previous)
      log.info({ event: 'reloaded', generation: next.id, listeners: config.listeners.map((l) => `${l.name}=${l.bind}`) },
        `configuration reloaded: generation ${next.id}`)
      void previous.drain(config.global.drainTimeoutMs).then(() => this.retire(previous))
      return { ok: true, message: `generation ${next.id}` }
    } catch (err) {
      log.error({ event: 'reload_failed', err }, `reload failed, still serving the previous config: ${(err as Error).message}`)
      return { ok: false, message: (err as Error).message }
    }
  }

  /**
   * Listeners with accept = "workers": once every thread of `gen` listens on its own socket, the
   * main thread closes its socket on that address, so the kernel spreads new connections over the
   * threads only (no accept on the main thread, no socket transfer). Its socket is there while a
   * generation starts — at start and on every reload (Listeners.openMissing reopens it) — so the
   * address is never without a listener. A thread that can't listen (EACCES after dropping root)
   * keeps the main thread in: after WORKER_LISTEN_WAIT_MS it stays and says why.
   */
  private async stepOutOfWorkerListeners(gen: Generation): Promise<void> {
    const listeners = gen.config.listeners
    for (let i = 0; i < listeners.length; i++) {
      const l = listeners[i]
      if (l.accept !== 'workers') continue
      const deadline = Date.now() + WORKER_LISTEN_WAIT_MS
      while (gen.cells.listener(i, ListenerCell.WorkerSockets) < gen.config.global.workers && Date.now() < deadline) {
        await new Promise<void>((resolve) => setTimeout(resolve, 50).unref())
      }
      if (gen !== this.current || this.isStopping) return
      if (gen.cells.listener(i, ListenerCell.WorkerSockets) < gen.config.global.workers) {
        this.logs.error.warn({ event: 'worker_listeners_incomplete', listener: l.name },
          `listener ${l.name}: not every worker thread listens on ${l.bind} itself; the main thread keeps accepting there too`)
        continue
      }
      this.listeners.closeBinds([l.bind])
      this.logs.error.info({ event: 'worker_listeners', listener: l.name, bind: l.bind },
        `listener ${l.name}: the worker threads accept on ${l.bind} themselves`)
      this.warnIfNoMigration(l.name)
    }
  }

  /**
   * With accept = "workers", a reload closes the old threads' listen sockets; Linux resets the
   * connections still queued on them unless net.ipv4.tcp_migrate_req is 1 (Linux ≥ 5.14), which
   * moves them to the sockets that stay. Measured: 234 of 95,000 new-connection requests reset
   * over 5 reloads with 0, none with 1 (README, accept). Said once per process; nothing is said
   * where the setting does not exist (another OS, an older kernel).
   */
  private warnIfNoMigration(listener: string): void {
    if (this.hasWarnedMigration) return
    let value: string
    try {
      value = readFileSync(TCP_MIGRATE_REQ, 'utf8').trim()
    } catch {
      return
    }
    if (value !== '0') return
    this.hasWarnedMigration = true
    this.logs.error.warn({ event: 'reload_may_reset', listener, sysctl: 'net.ipv4.tcp_migrate_req', value: 0 },
      `listener ${listener}: with accept = "workers" a reload resets connections still queued on the old threads' ` +
      'sockets; set net.ipv4.tcp_migrate_req = 1 (sysctl) so the kernel hands them to the new ones')
  }

  /** A drained generation is gone: what it counted after its successor took over joins the live totals. */
  private retire(gen: Generation): void {
    this.old.delete(gen)
    if (gen.counterBaseline !== null && gen !== this.current) this.current.addCounts(gen, gen.counterBaseline)
    gen.counterBaseline = null
    this.logs.error.info({ event: 'generation_drained', generation: gen.id }, `generation ${gen.id} drained`)
  }

  /** Settings a generation cannot change: they belong to the process. Say so rather than ignore them silently. */
  private warnRestartOnly(before: Config, after: Config): void {
    const changed: string[] = []
    if (!isDeepStrictEqual(before.log, after.log)) changed.push('[log]')
    if (!isDeepStrictEqual(before.runtime, after.runtime)) changed.push('[runtime]')
    if (before.global.user !== after.global.user || before.global.group !== after.global.group) changed.push('global.user/group')
    if (changed.length > 0) {
      this.logs.error.warn({ event: 'reload_restart_needed', keys: changed },
        `reload: ${changed.join(', ')} changed; these take effect on restart, the running values stay`)
    }
  }

  /**
   * Graceful stop: close the listen sockets (new connections are refused), let in-flight
   * requests finish within drain_timeout, then close the logs. Resolves when all is done.
   */
  stop(): Promise<void> {
    if (this.stopped === null) this.stopped = this.runStop()
    return this.stopped
  }

  private async runStop(): Promise<void> {
    this.isStopping = true
    this.logs.error.info({ event: 'stopping' }, 'stopping: draining connections')
    this.listeners.closeAll()
    for (const h of this.held) h.socket.destroy()
    this.held = []
    this.health?.stop()
    await Promise.all([this.runtime?.close(), this.metrics?.close()])
    const timeout = this.current.config.global.drainTimeoutMs
    await Promise.all([this.current, ...this.old].map((g) => g.drain(timeout)))
    this.logs.error.info({ event: 'stopped' }, 'stopped')
    if (this.lifeline !== null) clearInterval(this.lifeline)
    await this.logs.close()
  }
}

/** Returns -1 once running (the process then lives on its sockets), or an exit code. */
export async function runMain(config: Config, file: string, version: string): Promise<number> {
  const logs = openLogs(config.log)
  const main = new Main(config, file, version, logs)
  // Signals first: a SIGHUP or SIGTERM that arrives while starting must not kill the process
  // with the default action.
  installSignals(main, logs)
  try {
    await main.start()
  } catch (err) {
    const known = err instanceof ListenError || err instanceof PrivilegeError || err instanceof StartError
    const message = known ? (err as Error).message : (err as Error).stack ?? String(err)
    process.stderr.write(`portico: ${message}\n`)
    logs.flush()
    process.exit(1)
  }
  return -1
}
