// The validated, typed configuration: what `validate.ts` produces from the TOML file and what
// every other module reads. Both threads use it (workers receive it by structured clone), so it
// holds plain data only: no functions, no class instances, regexes as source strings.
//
// Names follow the TOML keys in camelCase, with the unit in the name (`upstreamConnectMs`,
// `maxBodyBytes`). `validate.ts` is the only place that converts keys, durations and sizes.

export type Protocol = 'http/1.1' | 'h2' | 'h2c'
export type Balance = 'round_robin' | 'least_conn' | 'random' | 'p2c' | 'hash'
export type HashKeyKind = 'header' | 'cookie' | 'client_ip' | 'path'

export interface GlobalConfig {
  /** Worker threads; "auto" resolved to os.availableParallelism(). */
  workers: number
  user: string | null
  group: string | null
  /** Refuse to keep running as root without user/group unless this is true. */
  allowRoot: boolean
  maxConnections: number
  drainTimeoutMs: number
  /** Request head limits (431 beyond bytes or header count, 414 beyond the request line). */
  maxHeaderBytes: number
  maxHeaders: number
  maxRequestLineBytes: number
  /** Each thread runs one memory-reducing full GC once quiet after a burst (shared/idle-gc.ts). */
  idleGc: boolean
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** "stdout" | "off" | a file path */
  access: string
  /** "stderr" | a file path */
  error: string
}

export interface RuntimeConfig {
  statsSocket: string | null
  adminSocket: string | null
  /** "host:port" of the metrics/dashboard HTTP listener, or null. */
  metrics: string | null
}

export interface Timeouts {
  clientHeaderMs: number
  clientIdleMs: number
  upstreamConnectMs: number
  upstreamResponseMs: number
  upstreamIdleMs: number
  /** How long a request may wait for a free slot when servers are at max_connections_per_server. */
  queueMs: number
  /** Idle timeout of an upgraded (WebSocket) tunnel. */
  tunnelIdleMs: number
  /**
   * A client that reads nothing of what portico has queued for it for this long is cut (HAProxy
   * `timeout client`, nginx `send_timeout`); meanwhile its upstream is paused, not timed.
   */
  clientSendMs: number
}

export interface TlsCert {
  certFile: string
  keyFile: string
  /** SNI names this cert answers ("a.example.com", "*.example.com"); empty = default cert. */
  serverNames: string[]
}

export interface ListenerTls {
  certs: TlsCert[]
  minVersion: 'TLSv1.2' | 'TLSv1.3'
  ciphers: string | null
}

export interface ListenerConfig {
  name: string
  /** As written: "0.0.0.0:8080", "[::]:443". */
  bind: string
  host: string
  port: number
  protocols: Protocol[]
  tls: ListenerTls | null
  /**
   * "main": the main thread accepts and hands each connection to a worker thread (never a refused
   * connection across reloads). "workers": every worker thread also accepts on its own
   * SO_REUSEPORT socket, so most connections skip the main thread (faster new connections).
   */
  accept: 'main' | 'workers'
}

export interface RouteConfig {
  name: string
  /** Listener names; empty = all listeners. */
  listeners: string[]
  /** Exact host, "*.example.com", or null for any. Lowercase. */
  host: string | null
  pathPrefix: string | null
  path: string | null
  /** Regex source, compiled by the router. */
  pathRegex: string | null
  /** Lowercase header name → exact value. */
  headers: Record<string, string>
  /** Uppercase method names; empty = any. */
  methods: string[]
  upstream: string
  requestBuffering: boolean
  maxBodyBytes: number
  maxBufferedBodyBytes: number
  /** Per-route timeout overrides, merged over [timeouts] by validate.ts. */
  timeouts: Timeouts
}

export interface HealthConfig {
  path: string
  intervalMs: number
  timeoutMs: number
  rise: number
  fall: number
  /** Inclusive range [low, high]. */
  expectStatus: [number, number]
  /** Host header for checks; null = the server address. */
  host: string | null
}

/**
 * TLS from portico to one upstream server (HAProxy `server ... ssl sni ca-file verify`, nginx
 * `proxy_ssl_*`): the `tls*` keys of [[upstreams]], overridden by those of [[upstreams.servers]].
 */
export interface UpstreamTls {
  /** Server name sent as SNI and checked against the certificate; null = none (an IP address). */
  sni: string | null
  /** Absolute path of a PEM file of CA certificates; null = Node's bundled CAs. */
  caFile: string | null
  /** false = accept any certificate (for testing). */
  verify: boolean
}

export interface ServerConfig {
  name: string
  /** As written: "127.0.0.1:8080". */
  address: string
  host: string
  port: number
  /** 0..256 as in HAProxy. */
  weight: number
  /** TLS to this server (upstream keys merged with the server's own), or null for plain TCP. */
  tls: UpstreamTls | null
}

export interface UpstreamConfig {
  name: string
  balance: Balance
  hashKey: { kind: HashKeyKind; name: string } | null
  maxConnectionsPerServer: number
  keepalive: number
  retries: number
  /** Consecutive failures (connect errors or 5xx) before a worker ejects a server; 0 = off. */
  ejectAfter: number
  ejectBaseMs: number
  ejectMaxMs: number
  health: HealthConfig | null
  servers: ServerConfig[]
}

export interface Config {
  /** Absolute path of the file this came from. */
  file: string
  global: GlobalConfig
  log: LogConfig
  runtime: RuntimeConfig
  timeouts: Timeouts
  listeners: ListenerConfig[]
  routes: RouteConfig[]
  upstreams: UpstreamConfig[]
}

/** One problem found in a config file; validate.ts returns all of them at once. */
export interface ConfigProblem {
  /** Key path as in the file: "upstreams[0].servers[2].weight". */
  path: string
  /** 1-based line in the file, or 0 when unknown. */
  line: number
  message: string
  /** The offending value as TOML spells it ("300", "\"web\""); absent when a key is missing. */
  value?: string
}
