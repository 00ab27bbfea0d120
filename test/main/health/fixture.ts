// Test fixture (main-thread tests): a minimal valid Config and a fresh set of Cells for it, with
// every server Up, Ready and at its configured weight, as a generation would leave them; and a
// port on 127.0.0.1 where nothing listens.

import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Cells, allocateCells } from '../../../src/shared/cells.ts'
import { Admin, Health, ListenerCell, ServerCell } from '../../../src/shared/layout.ts'
import type { Config, HealthConfig, ListenerConfig, UpstreamConfig } from '../../../src/shared/config/types.ts'

export interface TestUpstream {
  name: string
  health?: Partial<HealthConfig> | null
  servers: Array<{ name: string; port: number; weight?: number; host?: string }>
}

const TIMEOUTS = {
  clientHeaderMs: 10_000, clientIdleMs: 60_000, upstreamConnectMs: 3000, upstreamResponseMs: 30_000,
  upstreamIdleMs: 60_000, queueMs: 1000, tunnelIdleMs: 60_000, clientSendMs: 60_000,
}

export function healthConfig(h: Partial<HealthConfig>): HealthConfig {
  return { path: '/health', intervalMs: 50, timeoutMs: 200, rise: 2, fall: 3, expectStatus: [200, 399], host: null, ...h }
}

export function testConfig(upstreams: TestUpstream[], listeners: string[] = ['web']): Config {
  return {
    file: '/tmp/portico-test.toml',
    global: { workers: 1, user: null, group: null, allowRoot: true, maxConnections: 1000, drainTimeoutMs: 1000, maxHeaderBytes: 16384, maxHeaders: 100, maxRequestLineBytes: 8192, idleGc: true },
    log: { level: 'info', access: 'off', error: 'stderr' },
    runtime: { statsSocket: null, adminSocket: null, metrics: null },
    timeouts: TIMEOUTS,
    listeners: listeners.map((name, i): ListenerConfig => ({
      name, bind: `127.0.0.1:${8080 + i}`, host: '127.0.0.1', port: 8080 + i, protocols: ['http/1.1'], tls: null, accept: 'main',
    })),
    routes: [],
    upstreams: upstreams.map((u): UpstreamConfig => ({
      name: u.name, balance: 'round_robin', hashKey: null, maxConnectionsPerServer: 0, keepalive: 8, retries: 1,
      ejectAfter: 0, ejectBaseMs: 1000, ejectMaxMs: 30_000,
      health: u.health === undefined || u.health === null ? null : healthConfig(u.health),
      servers: u.servers.map((s) => ({
        name: s.name, address: `${s.host ?? '127.0.0.1'}:${s.port}`, host: s.host ?? '127.0.0.1', port: s.port, weight: s.weight ?? 100, tls: null,
      })),
    })),
  }
}

/** Cells for `config`, initialised as a new generation would (all servers UP, ready). */
export function testCells(config: Config, workers = 2): Cells {
  const servers = config.upstreams.reduce((n, u) => n + u.servers.length, 0)
  const cells = new Cells(allocateCells({ servers, upstreams: config.upstreams.length, listeners: config.listeners.length, workers }))
  let i = 0
  for (const u of config.upstreams) {
    for (const s of u.servers) {
      cells.setServer(i, ServerCell.Health, Health.Up)
      cells.setServer(i, ServerCell.Admin, Admin.Ready)
      cells.setServer(i, ServerCell.Weight, s.weight)
      cells.setServer(i, ServerCell.InitialWeight, s.weight)
      i++
    }
  }
  for (let l = 0; l < config.listeners.length; l++) cells.setListener(l, ListenerCell.Enabled, 1)
  return cells
}

/** A port nothing listens on: bind one, note it, close it. */
export async function closedPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
