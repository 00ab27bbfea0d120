// How portico's config appears to HAProxy tools: upstreams are backends, listeners are frontends,
// servers are servers. Builds the numbering once per Config and resolves the names and `#id`s the
// Runtime API accepts. Main thread only.
//
// Numbering (stable for a given config file, visible as iid/sid in show stat and usable as #id):
//   backend  iid = upstream index + 1            (1 .. U, in file order)
//   frontend iid = U + 1 + listener index        (after every backend, in file order)
//   server   sid = position in its upstream + 1; its cells index is global (layout.ts)
// HAProxy numbers proxies in declaration order whatever their kind; portico keeps backends first
// so that `#<iid>/#<sid>` for a server never moves when a listener is added.

import type { Config, HealthConfig, ListenerConfig, ServerConfig, UpstreamConfig } from '../../shared/config/types.ts'

export interface BackendEntry {
  iid: number
  /** Index in config.upstreams. */
  upstream: number
  name: string
  config: UpstreamConfig
  servers: ServerEntry[]
}

export interface ServerEntry {
  sid: number
  /** Global server index: the cells slot. */
  index: number
  name: string
  config: ServerConfig
  backend: BackendEntry
}

export interface FrontendEntry {
  iid: number
  /** Index in config.listeners. */
  listener: number
  name: string
  config: ListenerConfig
}

export class Topology {
  readonly config: Config
  readonly backends: BackendEntry[]
  readonly frontends: FrontendEntry[]
  readonly serverCount: number

  constructor(config: Config) {
    this.config = config
    this.backends = []
    this.frontends = []
    let index = 0
    for (let u = 0; u < config.upstreams.length; u++) {
      const up = config.upstreams[u]
      const be: BackendEntry = { iid: u + 1, upstream: u, name: up.name, config: up, servers: [] }
      for (let s = 0; s < up.servers.length; s++) {
        be.servers.push({ sid: s + 1, index: index++, name: up.servers[s].name, config: up.servers[s], backend: be })
      }
      this.backends.push(be)
    }
    this.serverCount = index
    const base = config.upstreams.length + 1
    for (let l = 0; l < config.listeners.length; l++) {
      this.frontends.push({ iid: base + l, listener: l, name: config.listeners[l].name, config: config.listeners[l] })
    }
  }

  /** HAProxy proxy_be_by_name: a name, or `#<iid>`. */
  backend(name: string): BackendEntry | null {
    if (name.startsWith('#')) {
      const iid = parseId(name.slice(1))
      return this.backends.find((b) => b.iid === iid) ?? null
    }
    return this.backends.find((b) => b.name === name) ?? null
  }

  /** HAProxy proxy_fe_by_name: a name, or `#<iid>`. */
  frontend(name: string): FrontendEntry | null {
    if (name.startsWith('#')) {
      const iid = parseId(name.slice(1))
      return this.frontends.find((f) => f.iid === iid) ?? null
    }
    return this.frontends.find((f) => f.name === name) ?? null
  }

  /**
   * HAProxy proxy_find_by_name(name, 0, 0) for `show stat <px> …`: the proxy's iid, 0 if unknown.
   * A listener and an upstream may share a name; the upstream (backend) wins, it has the servers.
   */
  proxyIid(name: string): number {
    const be = this.backend(name)
    if (be !== null) return be.iid
    const fe = this.frontend(name)
    return fe !== null ? fe.iid : 0
  }

  /**
   * HAProxy cli_find_server: `<backend>/<server>`, either part may be `#<id>`. Returns the server or
   * the exact error text HAProxy prints. `get weight` has its own 2.6 parser that accepts an empty
   * backend part (then "No such backend."): pass `emptyBackendOk`.
   */
  findServer(arg: string, emptyBackendOk = false): ServerEntry | string {
    const slash = arg.indexOf('/')
    if (slash < 0 || slash === arg.length - 1 || (slash === 0 && !emptyBackendOk)) return "Require 'backend/server'."
    const be = this.backend(arg.slice(0, slash))
    if (be === null) return 'No such backend.'
    const srvName = arg.slice(slash + 1)
    let srv: ServerEntry | undefined
    if (srvName.startsWith('#')) {
      const sid = parseId(srvName.slice(1))
      srv = be.servers.find((s) => s.sid === sid)
    } else {
      srv = be.servers.find((s) => s.name === srvName)
    }
    return srv ?? 'No such server.'
  }
}

/** C atoi: leading blanks, optional sign, digits; anything else stops it; no digits = 0. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s)
  if (m === null) return 0
  const n = Number.parseInt(m[1], 10)
  // atoi of an out-of-range value is undefined in C; clamp to int32 so ids never match by accident.
  return Math.max(-2147483648, Math.min(2147483647, n))
}

function parseId(s: string): number {
  return atoi(s)
}

/** Health-check rise/fall for display; HAProxy's defaults (rise 2, fall 3) when there is no [health]. */
export function riseFall(health: HealthConfig | null): { rise: number; fall: number } {
  return health === null ? { rise: 2, fall: 3 } : { rise: health.rise, fall: health.fall }
}

const cache = new WeakMap<Config, Topology>()

/** The topology of a config, built once per Config object (i.e. once per generation). */
export function topologyOf(config: Config): Topology {
  let t = cache.get(config)
  if (t === undefined) {
    t = new Topology(config)
    cache.set(config, t)
  }
  return t
}
