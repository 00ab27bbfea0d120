// The SharedArrayBuffer layout of one config generation. Both threads use it; cells.ts is the only
// module that turns these constants into reads and writes, nothing else indexes the buffers.
//
// Servers are numbered globally: upstreams in file order, their servers in file order
// ("server index"). Upstream and listener indexes are their positions in the config arrays.
//
// Two buffers:
//
//   state: Int32Array, read and written with Atomics by every thread
//   ┌──────────────┬───────────────────────────────┬──────────────────────┬────────────────────┬─────────────────────────────┐
//   │ header       │ server × SERVER_CELLS         │ upstream × UP_CELLS  │ listener × LI_CELLS│ slots       │ slot × server (active)    │
//   └──────────────┴───────────────────────────────┴──────────────────────┴────────────────────┴─────────────┴───────────────────────────┘
//   A worker thread claims a slot (compare-exchange its threadId into its slot's Owner cell) when it starts;
//   its share of each server's Active count is kept in its column, so when a thread dies the main
//   thread subtracts that column from the global counts and frees the slot for the replacement.
//   server: [ active | health | admin | weight | initialWeight | maxconn | checkEnabled | checkCount | ejectUntil | fails | lastChange | queued ]
//
//   counters: Float64Array, one shard per worker thread plus one for the main thread; each shard is
//   written by its own thread only (plain stores, no contention, no cache lines bouncing between
//   cores on the hot path) and summed by the main thread when someone asks (show stat, /metrics).
//   Atomics cannot operate on Float64; a single writer per cell and aligned 8-byte stores make a
//   torn read impossible on x64 and arm64, and a counter read one request late is harmless.
//   ┌────────────────────────────────────────────────────────────────────────────┐
//   │ shard w: server × SERVER_COUNTERS │ listener × LISTENER_COUNTERS │ MISC     │  × (workers + 1)
//   └────────────────────────────────────────────────────────────────────────────┘

/** Int32 header cells. */
export const Header = {
  Generation: 0,
  Servers: 1,
  Upstreams: 2,
  Listeners: 3,
  Workers: 4,
  /** Set to 1 when the generation drains: workers close idle connections and stop keep-alive. */
  Draining: 5,
  /** Seconds since the Unix epoch at which the generation started (base of the "seconds" cells). */
  EpochSeconds: 6,
  /**
   * Set to 1 when the main thread switches traffic to this generation, after privileges were
   * dropped: worker threads open their own listen sockets (accept = "workers") only then.
   */
  Serving: 7,
} as const
export const HEADER_CELLS = 8

/** Per-server Int32 state cells (offsets within a server's slot). */
export const ServerCell = {
  /** Requests in flight at this server, all threads (the least_conn figure). */
  Active: 0,
  /** Health.Up / Health.Down. */
  Health: 1,
  /** Admin.Ready / Admin.Drain / Admin.Maint. */
  Admin: 2,
  /** Current (user) weight 0..256, written by the runtime API. */
  Weight: 3,
  /** Weight from the config file. */
  InitialWeight: 4,
  /** Max concurrent requests (max_connections_per_server); 0 = unlimited. */
  MaxConn: 5,
  /** 1 when an active health check runs for this server, 0 for "no check". */
  CheckEnabled: 6,
  /** Health-check streak: consecutive successes while down, failures while up (for "UP 1/3"). */
  CheckCount: 7,
  /** Passive ejection: seconds since the epoch until which this server is skipped; 0 = not ejected. */
  EjectUntil: 8,
  /** Consecutive failures seen by the workers (passive ejection). */
  Fails: 9,
  /** Seconds since the epoch of the last health/admin change (show stat lastchg). */
  LastChange: 10,
  /** Requests waiting in queues for this server's upstream, attributed to the server (show stat qcur). */
  Queued: 11,
} as const
export const SERVER_CELLS = 12

export const UpstreamCell = {
  /** Requests currently waiting for a free server slot (all threads). */
  Queued: 0,
  /** Shared round-robin cursor for balancers that want one. */
  Cursor: 1,
} as const
export const UPSTREAM_CELLS = 4

export const ListenerCell = {
  /** Open downstream connections on this listener, all threads. */
  Active: 0,
  /** 1 while the listener accepts (frontend enabled). */
  Enabled: 1,
  /** accept = "workers": how many of this generation's threads listen on their own socket. */
  WorkerSockets: 2,
} as const
export const LISTENER_CELLS = 4

/**
 * Per worker slot: [ owner threadId (0 = free) | open downstream connections | heartbeat ].
 * Connections: the main thread adds 1 when it sends the thread a connection (so one still on its
 * way counts), the thread adds 1 for one it accepted itself, and the thread subtracts 1 when one
 * closes. Dispatch balances on it, drain waits for it, a crash report counts it as lost.
 * Heartbeat: the thread's last timer sweep, in tenths of a second since the generation's
 * EpochSeconds; a stale one means the thread's event loop is stuck (dispatch avoids it).
 */
export const SlotCell = { Owner: 0, Connections: 1, Heartbeat: 2 } as const
export const SLOT_CELLS = 3

/** Stopping: `set server … health stopping` — up for the checker, but takes no new requests. */
export const Health = { Down: 0, Up: 1, Stopping: 2 } as const
export type Health = (typeof Health)[keyof typeof Health]

export const Admin = { Ready: 0, Drain: 1, Maint: 2 } as const
export type Admin = (typeof Admin)[keyof typeof Admin]

/** Upper bounds (ms) of the latency histogram buckets; the last bucket is +Inf. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const

/** Per-server Float64 counters in each shard. */
export const ServerCounter = {
  Requests: 0,
  /** Responses by class: 1xx .. 5xx, then "other" (no response: errors, aborts). */
  Resp1xx: 1,
  Resp2xx: 2,
  Resp3xx: 3,
  Resp4xx: 4,
  Resp5xx: 5,
  RespOther: 6,
  ConnectFailures: 7,
  /** Response errors: upstream reset or garbage after the request was sent. */
  ResponseErrors: 8,
  Retries: 9,
  /** Requests sent to another server after failing here (HAProxy wredis). */
  Redispatches: 10,
  /** As HAProxy's bin/bout, seen from the client: request bytes sent to the server… */
  BytesIn: 11,
  /** …and response bytes received from it. (Listeners: in = from clients, out = to clients.) */
  BytesOut: 12,
  /** New TCP connections opened to this server (vs reused from the pool). */
  ConnectionsOpened: 13,
  ConnectionsReused: 14,
  /** Sum of response-head latency in ms, for averages. */
  LatencySumMs: 15,
  /** Health-check counters (main thread shard). */
  ChecksFailed: 16,
  HealthTransitionsDown: 17,
  /** Requests that gave up in the queue (503). */
  QueueTimeouts: 18,
  /** Max of Active seen (show stat smax); kept as a max, not a sum. */
  MaxActive: 19,
  /** Histogram: LATENCY_BUCKETS_MS.length + 1 cells (last is +Inf), non-cumulative. */
  LatencyBucket0: 20,
} as const
export const SERVER_COUNTERS = ServerCounter.LatencyBucket0 + LATENCY_BUCKETS_MS.length + 1

export const ListenerCounter = {
  Connections: 0,
  Requests: 1,
  BytesIn: 2,
  BytesOut: 3,
  Resp1xx: 4,
  Resp2xx: 5,
  Resp3xx: 6,
  Resp4xx: 7,
  Resp5xx: 8,
  RespOther: 9,
  /** Requests refused by portico itself: bad request, no route, limits. */
  Denied: 10,
  /** Connections closed at once because global.max_connections was reached. */
  Refused: 11,
  TlsErrors: 12,
  MaxActive: 13,
} as const
export const LISTENER_COUNTERS = 14

/** Per-shard counters not tied to a server or listener. */
export const MiscCounter = {
  RingDrops: 0,
  RequestErrors: 1,
  WorkerErrors: 2,
} as const
export const MISC_COUNTERS = 4

export interface LayoutSizes {
  servers: number
  upstreams: number
  listeners: number
  /** Worker slots: twice the thread count, so a replacement thread finds a free slot before the
   * main thread has released the dead one's. Shard w belongs to slot w. */
  workers: number
}

/**
 * State cells: header, servers, upstreams, listeners, worker slots, then each slot's share of
 * every server's Active and of every listener's Active (what releaseSlot takes back when a
 * thread dies holding them).
 */
export function stateLength(s: LayoutSizes): number {
  return HEADER_CELLS + s.servers * SERVER_CELLS + s.upstreams * UPSTREAM_CELLS +
    s.listeners * LISTENER_CELLS + s.workers * SLOT_CELLS + s.workers * s.servers + s.workers * s.listeners
}

export function shardLength(s: LayoutSizes): number {
  return s.servers * SERVER_COUNTERS + s.listeners * LISTENER_COUNTERS + MISC_COUNTERS
}

/** Shards: one per worker (index = worker slot) and the last one for the main thread. */
export function counterLength(s: LayoutSizes): number {
  return shardLength(s) * (s.workers + 1)
}
