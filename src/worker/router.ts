// Routing: the first [[routes]] entry (file order) whose listener, host, path, headers and method
// all match picks the upstream. Worker threads only; built once per generation. Pure: the caller
// passes what it parsed, no I/O.

import type { RouteConfig } from '../shared/config/types.ts'

/** A compiled route. Fields in one fixed order so every instance shares a hidden class. */
export class CompiledRoute {
  readonly index: number
  readonly config: RouteConfig
  /** Listener indexes this route applies to; null = every listener. */
  readonly listeners: Uint8Array | null
  readonly hostExact: string | null
  /** For "*.example.com": ".example.com". */
  readonly hostSuffix: string | null
  readonly pathPrefix: string | null
  readonly pathExact: string | null
  readonly pathRegex: RegExp | null
  readonly headerNames: string[]
  readonly headerValues: string[]
  readonly methods: string[] | null
  readonly upstream: number

  constructor(index: number, route: RouteConfig, listenerNames: string[], upstreamNames: string[]) {
    this.index = index
    this.config = route
    if (route.listeners.length === 0) {
      this.listeners = null
    } else {
      this.listeners = new Uint8Array(listenerNames.length)
      for (const name of route.listeners) {
        const i = listenerNames.indexOf(name)
        if (i >= 0) this.listeners[i] = 1
      }
    }
    const host = route.host
    this.hostExact = host !== null && !host.startsWith('*.') ? host : null
    this.hostSuffix = host !== null && host.startsWith('*.') ? host.slice(1) : null
    this.pathPrefix = route.pathPrefix
    this.pathExact = route.path
    this.pathRegex = route.pathRegex === null ? null : new RegExp(route.pathRegex)
    this.headerNames = Object.keys(route.headers)
    this.headerValues = this.headerNames.map((n) => route.headers[n])
    this.methods = route.methods.length === 0 ? null : route.methods
    this.upstream = upstreamNames.indexOf(route.upstream)
  }
}

/** Looks up a request header's value by lowercase name; null when absent. */
export type HeaderLookup = (lowerName: string) => string | null

/** Strip the port from a Host value ("a.com:8080" → "a.com", "[::1]:80" → "[::1]"). */
export function hostWithoutPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']')
    return end < 0 ? host : host.slice(0, end + 1)
  }
  const colon = host.indexOf(':')
  return colon < 0 ? host : host.slice(0, colon)
}

/** "::ffff:127.0.0.1" → "127.0.0.1": IPv4 clients of a dual-stack socket, as logs and X-Forwarded-For want them. */
export function normalizeIp(ip: string | undefined): string {
  if (ip === undefined) return ''
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip
}

/** The value of cookie `name` (lowercase) in a Cookie header, or null. Rare path (hash_key = "cookie:…"). */
export function cookieValue(cookieHeader: string | null, name: string): string | null {
  if (cookieHeader === null) return null
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim().toLowerCase() === name) return part.slice(eq + 1).trim()
  }
  return null
}

/** The path of a request-target, without query; absolute-form targets lose scheme and authority. */
export function targetPath(target: string): string {
  let start = 0
  if (target.charCodeAt(0) !== 47 /* / */) {
    const scheme = target.indexOf('://')
    if (scheme < 0) return target
    start = target.indexOf('/', scheme + 3)
    if (start < 0) return '/'
  }
  const q = target.indexOf('?', start)
  return q < 0 ? (start === 0 ? target : target.slice(start)) : target.slice(start, q)
}

export class Router {
  readonly routes: CompiledRoute[]

  constructor(routes: RouteConfig[], listenerNames: string[], upstreamNames: string[]) {
    this.routes = routes.map((r, i) => new CompiledRoute(i, r, listenerNames, upstreamNames))
  }

  /**
   * The first matching route, or null. `host` is lowercase without port (or null when the request
   * has none), `path` without query.
   */
  match(listener: number, host: string | null, path: string, method: string, header: HeaderLookup): CompiledRoute | null {
    const routes = this.routes
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]
      if (r.listeners !== null && r.listeners[listener] !== 1) continue
      if (r.hostExact !== null && host !== r.hostExact) continue
      if (r.hostSuffix !== null && (host === null || !host.endsWith(r.hostSuffix) || host.length === r.hostSuffix.length)) continue
      if (r.pathPrefix !== null && !path.startsWith(r.pathPrefix)) continue
      if (r.pathExact !== null && path !== r.pathExact) continue
      if (r.pathRegex !== null && !r.pathRegex.test(path)) continue
      if (r.methods !== null && !r.methods.includes(method)) continue
      let headersMatch = true
      for (let h = 0; h < r.headerNames.length; h++) {
        if (header(r.headerNames[h]) !== r.headerValues[h]) { headersMatch = false; break }
      }
      if (!headersMatch) continue
      return r
    }
    return null
  }
}
