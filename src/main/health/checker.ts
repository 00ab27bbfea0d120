// The active health checker: one for the whole process, on the main thread (DESIGN.md "Shape").
// It probes every server of every upstream that has a [upstreams.health] section and writes the
// result into the generation's cells (Health, CheckCount, LastChange, EjectUntil, Fails), where every
// worker sees it on its next pick. Workers never run checks.
//
// HAProxy semantics: a checked server starts UP so traffic flows at once, goes DOWN after `fall`
// failed checks in a row and back UP after `rise` passing ones (health/state.ts). A server in
// maintenance is not checked; a server whose checks were disabled at runtime (CheckEnabled = 0) is
// not checked either. The checker re-reads the cells before every transition, so a runtime
// `set server … health` simply becomes the state the next check continues from.

import { nowSeconds } from '../../shared/cells.ts'
import type { Cells } from '../../shared/cells.ts'
import { Admin, Health, ServerCell, ServerCounter } from '../../shared/layout.ts'
import type { Config, HealthConfig, UpstreamTls } from '../../shared/config/types.ts'
import { applyCheck } from './state.ts'
import { probe } from './probe.ts'
import type { ProbeHandle, ProbeResult } from './probe.ts'

export interface HealthLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface HealthChecker {
  /** Clear every timer and destroy every probe socket in flight. Idempotent. */
  stop(): void
}

/** The first check of each server is spread over this fraction of its interval. */
const START_JITTER = 0.1

/** One checked server: its schedule and its probe in flight (at most one at a time). */
class ServerCheck {
  readonly index: number
  readonly upstream: string
  readonly server: string
  readonly host: string
  readonly port: number
  readonly hostHeader: string
  /** TLS to this server (checks speak it like the traffic does), or null. */
  readonly tls: UpstreamTls | null
  readonly health: HealthConfig
  readonly cells: Cells
  readonly log: HealthLog
  timer: NodeJS.Timeout | null
  inFlight: ProbeHandle | null
  isStopped: boolean

  constructor(index: number, upstream: string, server: string, host: string, port: number,
    hostHeader: string, tls: UpstreamTls | null, health: HealthConfig, cells: Cells, log: HealthLog) {
    this.index = index
    this.upstream = upstream
    this.server = server
    this.host = host
    this.port = port
    this.hostHeader = hostHeader
    this.tls = tls
    this.health = health
    this.cells = cells
    this.log = log
    this.timer = null
    this.inFlight = null
    this.isStopped = false
    this.run = this.run.bind(this)
    this.onResult = this.onResult.bind(this)
  }

  schedule(delayMs: number): void {
    this.timer = setTimeout(this.run, delayMs)
  }

  /** HAProxy pauses checks in maintenance and after `disable health`; the state is kept as is. */
  isPaused(): boolean {
    return this.cells.server(this.index, ServerCell.Admin) === Admin.Maint ||
      this.cells.server(this.index, ServerCell.CheckEnabled) !== 1
  }

  run(): void {
    this.timer = null
    if (this.isStopped) return
    if (this.isPaused()) {
      this.schedule(this.health.intervalMs)
      return
    }
    const h = this.health
    this.inFlight = probe({ host: this.host, port: this.port, path: h.path, hostHeader: this.hostHeader, timeoutMs: h.timeoutMs, tls: this.tls }, this.onResult)
  }

  onResult(result: ProbeResult): void {
    this.inFlight = null
    if (this.isStopped) return
    this.apply(result)
    // Checks start `interval` apart, or back to back when a check took longer than that.
    this.schedule(Math.max(0, this.health.intervalMs - result.elapsedMs))
  }

  apply(result: ProbeResult): void {
    const { cells, index, health: h } = this
    const [lo, hi] = h.expectStatus
    const isPass = result.failure === null && result.statusCode >= lo && result.statusCode <= hi
    const reason = result.failure ?? `status ${result.statusCode}`
    if (!isPass) cells.countServer(cells.mainShard, index, ServerCounter.ChecksFailed, 1)

    // Maintenance or `disable health` may have come while the probe was in flight: ignore its result.
    if (this.isPaused()) return

    const before = cells.server(index, ServerCell.Health)
    const streak = cells.server(index, ServerCell.CheckCount)
    const next = applyCheck(before, streak, isPass, h.rise, h.fall)
    cells.setServer(index, ServerCell.CheckCount, next.checkCount)
    const fields = { upstream: this.upstream, server: this.server, reason, checkMs: Math.round(result.elapsedMs) }
    if (next.isTransition) {
      cells.setServer(index, ServerCell.Health, next.health)
      cells.setServer(index, ServerCell.LastChange, nowSeconds())
      if (next.health === Health.Down) {
        cells.countServer(cells.mainShard, index, ServerCounter.HealthTransitionsDown, 1)
        this.log.warn(fields, `server ${this.upstream}/${this.server} is DOWN (${reason}, ${h.fall}/${h.fall} checks failed)`)
      } else {
        const passed = before === Health.Down ? `${h.rise}/${h.rise} checks passed` : 'was stopping'
        this.log.info(fields, `server ${this.upstream}/${this.server} is UP (${reason}, ${passed})`)
      }
    }

    // A worker ejected the server after failures it saw; a passing check brings it back early.
    // Compare-and-set so that an ejection a worker writes meanwhile is not lost.
    if (isPass) {
      const ejectUntil = cells.server(index, ServerCell.EjectUntil)
      if (ejectUntil > nowSeconds() && cells.casServer(index, ServerCell.EjectUntil, ejectUntil, 0) === ejectUntil) {
        cells.setServer(index, ServerCell.Fails, 0)
        this.log.info(fields, `server ${this.upstream}/${this.server} is back from ejection (${reason})`)
      }
    }
  }

  stop(): void {
    this.isStopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    if (this.inFlight !== null) this.inFlight.cancel()
    this.inFlight = null
  }
}

/** "[::1]" → "::1": connect() wants the bare address. */
function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

/**
 * Start checking every server of every upstream with a health section, using this generation's
 * cells. Marks CheckEnabled = 1 on checked servers and 0 on the others (whose Health is left as the
 * generation set it). The first check of each server runs at a random point within the first 10%
 * of its interval, so servers added together are not probed in lockstep.
 */
export function startHealthChecker(config: Config, cells: Cells, log: HealthLog): HealthChecker {
  const checks: ServerCheck[] = []
  let index = 0
  for (const up of config.upstreams) {
    for (const s of up.servers) {
      if (up.health === null) {
        cells.setServer(index, ServerCell.CheckEnabled, 0)
      } else {
        cells.setServer(index, ServerCell.CheckEnabled, 1)
        const check = new ServerCheck(index, up.name, s.name, bareHost(s.host), s.port,
          up.health.host ?? s.address, s.tls, up.health, cells, log)
        check.schedule(Math.random() * START_JITTER * up.health.intervalMs)
        checks.push(check)
      }
      index++
    }
  }
  return {
    stop() {
      for (const check of checks) check.stop()
    },
  }
}
