// HAProxy 2.6's field tables for `show stat` and `show info`: names in their fixed order, the
// typed-output tags and types, and the descriptions printed by `desc`. Data only, taken from the
// live 2.6.12 transcripts in reference/haproxy-2.6-transcripts/ (show-stat-typed, show-stat-typed-desc,
// show-info-typed-desc); fields that no 2.6 transcript described carry HAProxy's source text.
// Main thread only.

export interface StatField {
  name: string
  /** `desc` output. */
  desc: string
  /** Typed output `<origin><nature><scope>:<type>`, e.g. 'MCP:u64'. */
  tags: string
  /** Override for BACKEND rows where 2.6 tags the field differently (act, bck, rate, rate_max). */
  beTags?: string
}

/**
 * `show stat` columns 0..102 by name. Tools (hatop, haproxy_exporter) index columns by position,
 * so these never move.
 */
export const Col = {
  pxname: 0, svname: 1, qcur: 2, qmax: 3, scur: 4, smax: 5, slim: 6, stot: 7, bin: 8, bout: 9,
  dreq: 10, dresp: 11, ereq: 12, econ: 13, eresp: 14, wretr: 15, wredis: 16, status: 17,
  weight: 18, act: 19, bck: 20, chkfail: 21, chkdown: 22, lastchg: 23, downtime: 24, qlimit: 25,
  pid: 26, iid: 27, sid: 28, throttle: 29, lbtot: 30, tracked: 31, type: 32, rate: 33,
  rate_lim: 34, rate_max: 35, check_status: 36, check_code: 37, check_duration: 38, hrsp_1xx: 39,
  hrsp_2xx: 40, hrsp_3xx: 41, hrsp_4xx: 42, hrsp_5xx: 43, hrsp_other: 44, hanafail: 45,
  req_rate: 46, req_rate_max: 47, req_tot: 48, cli_abrt: 49, srv_abrt: 50, comp_in: 51,
  comp_out: 52, comp_byp: 53, comp_rsp: 54, lastsess: 55, last_chk: 56, last_agt: 57, qtime: 58,
  ctime: 59, rtime: 60, ttime: 61, agent_status: 62, agent_code: 63, agent_duration: 64,
  check_desc: 65, agent_desc: 66, check_rise: 67, check_fall: 68, check_health: 69, agent_rise: 70,
  agent_fall: 71, agent_health: 72, addr: 73, cookie: 74, mode: 75, algo: 76, conn_rate: 77,
  conn_rate_max: 78, conn_tot: 79, intercepted: 80, dcon: 81, dses: 82, wrew: 83, connect: 84,
  reuse: 85, cache_lookups: 86, cache_hits: 87, srv_icur: 88, src_ilim: 89, qtime_max: 90,
  ctime_max: 91, rtime_max: 92, ttime_max: 93, eint: 94, idle_conn_cur: 95, safe_conn_cur: 96,
  used_conn_cur: 97, need_conn_est: 98, uweight: 99, agg_server_status: 100,
  agg_server_check_status: 101, agg_check_status: 102, marker: 103,
} as const

/**
 * All 128 CSV columns in HAProxy 2.6 order: 0..102, the '-' marker (103), then the 2.6 module
 * counters (ssl, h2, h1). The header line and every row have exactly these, plus a trailing ','.
 * In typed/json output a field after the marker has position (column - 1).
 */
export const STAT_FIELDS: readonly StatField[] = [
  { name: 'pxname', desc: 'Proxy name', tags: 'KNS:str' },
  { name: 'svname', desc: 'Server name', tags: 'KNS:str' },
  { name: 'qcur', desc: 'Number of current queued connections', tags: 'MGP:u32' },
  { name: 'qmax', desc: 'Highest value of queued connections encountered since process started', tags: 'MMP:u32' },
  { name: 'scur', desc: 'Number of current sessions on the frontend, backend or server', tags: 'MGP:u32' },
  { name: 'smax', desc: 'Highest value of current sessions encountered since process started', tags: 'MMP:u32' },
  { name: 'slim', desc: "Frontend/listener/server's maxconn, backend's fullconn", tags: 'CLP:u32' },
  { name: 'stot', desc: 'Total number of sessions since process started', tags: 'MCP:u64' },
  { name: 'bin', desc: 'Total number of request bytes since process started', tags: 'MCP:u64' },
  { name: 'bout', desc: 'Total number of response bytes since process started', tags: 'MCP:u64' },
  { name: 'dreq', desc: 'Total number of denied requests since process started', tags: 'MCP:u64' },
  { name: 'dresp', desc: 'Total number of denied responses since process started', tags: 'MCP:u64' },
  { name: 'ereq', desc: 'Total number of invalid requests since process started', tags: 'MCP:u64' },
  { name: 'econ', desc: 'Total number of failed connections to server since the worker process started', tags: 'MCP:u64' },
  { name: 'eresp', desc: 'Total number of invalid responses since the worker process started', tags: 'MCP:u64' },
  { name: 'wretr', desc: 'Total number of server connection retries since the worker process started', tags: 'MCP:u64' },
  { name: 'wredis', desc: 'Total number of server redispatches due to connection failures since the worker process started', tags: 'MCP:u64' },
  { name: 'status', desc: 'Frontend/listen status: OPEN/WAITING/FULL/STOP; backend: UP/DOWN; server: last check status', tags: 'SGP:str' },
  { name: 'weight', desc: "Server's effective weight, or sum of active servers' effective weights for a backend", tags: 'MaP:u32' },
  { name: 'act', desc: 'Total number of active UP servers with a non-zero weight', tags: 'SGP:u32', beTags: 'MGP:u32' },
  { name: 'bck', desc: 'Total number of backup UP servers with a non-zero weight', tags: 'SGP:u32', beTags: 'MGP:u32' },
  { name: 'chkfail', desc: 'Total number of failed individual health checks per server/backend, since the worker process started', tags: 'MCP:u64' },
  { name: 'chkdown', desc: 'Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started', tags: 'MCP:u64' },
  { name: 'lastchg', desc: 'How long ago the last server state changed, in seconds', tags: 'MAP:u32' },
  { name: 'downtime', desc: 'Total time spent in DOWN state, for server or backend', tags: 'MCP:u32' },
  { name: 'qlimit', desc: 'Limit on the number of connections in queue, for servers only (maxqueue argument)', tags: 'CLP:u32' },
  { name: 'pid', desc: 'Relative worker process number (1)', tags: 'KGP:u32' },
  { name: 'iid', desc: "Frontend or Backend numeric identifier ('id' setting)", tags: 'KGS:u32' },
  { name: 'sid', desc: "Server numeric identifier ('id' setting)", tags: 'KGS:u32' },
  { name: 'throttle', desc: "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)", tags: 'MaP:u32' },
  { name: 'lbtot', desc: 'Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)', tags: 'MCP:u64' },
  { name: 'tracked', desc: 'Name of the other server this server tracks for its state', tags: 'CNS:str' },
  { name: 'type', desc: 'Type of the object (Listener, Frontend, Backend, Server)', tags: 'CGS:u32' },
  { name: 'rate', desc: 'Total number of sessions processed by this object over the last second (sessions for listeners/frontends, requests for backends/servers)', tags: 'MRP:u32', beTags: 'MGP:u32' },
  { name: 'rate_lim', desc: "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)", tags: 'CLP:u32' },
  { name: 'rate_max', desc: 'Highest value of sessions per second observed since the worker process started', tags: 'MMP:u32', beTags: 'MGP:u32' },
  { name: 'check_status', desc: "Status report of the server's latest health check, prefixed with '*' if a check is currently in progress", tags: 'MOP:str' },
  { name: 'check_code', desc: 'HTTP/SMTP/LDAP status code reported by the latest server health check', tags: 'MOP:u32' },
  { name: 'check_duration', desc: 'Total duration of the latest server health check, in milliseconds', tags: 'MDP:u64' },
  { name: 'hrsp_1xx', desc: 'Total number of HTTP responses with status 100-199 returned by this object since the worker process started', tags: 'MCP:u64' },
  { name: 'hrsp_2xx', desc: 'Total number of HTTP responses with status 200-299 returned by this object since the worker process started', tags: 'MCP:u64' },
  { name: 'hrsp_3xx', desc: 'Total number of HTTP responses with status 300-399 returned by this object since the worker process started', tags: 'MCP:u64' },
  { name: 'hrsp_4xx', desc: 'Total number of HTTP responses with status 400-499 returned by this object since the worker process started', tags: 'MCP:u64' },
  { name: 'hrsp_5xx', desc: 'Total number of HTTP responses with status 500-599 returned by this object since the worker process started', tags: 'MCP:u64' },
  { name: 'hrsp_other', desc: 'Total number of HTTP responses with status <100, >599 returned by this object since the worker process started (error -1 included)', tags: 'MCP:u64' },
  { name: 'hanafail', desc: "Total number of failed checks caused by an 'on-error' directive after an 'observe' condition matched", tags: 'MCP:u64' },
  { name: 'req_rate', desc: 'Number of HTTP requests processed over the last second on this object', tags: 'MRP:u32' },
  { name: 'req_rate_max', desc: 'Highest value of http requests observed since the worker process started', tags: 'MMP:u32' },
  { name: 'req_tot', desc: 'Total number of HTTP requests processed by this object since the worker process started', tags: 'MCP:u64' },
  { name: 'cli_abrt', desc: 'Total number of requests or connections aborted by the client since the worker process started', tags: 'MCP:u64' },
  { name: 'srv_abrt', desc: 'Total number of requests or connections aborted by the server since the worker process started', tags: 'MCP:u64' },
  { name: 'comp_in', desc: 'Total number of bytes submitted to the HTTP compressor for this object since the worker process started', tags: 'MCP:u64' },
  { name: 'comp_out', desc: 'Total number of bytes emitted by the HTTP compressor for this object since the worker process started', tags: 'MCP:u64' },
  { name: 'comp_byp', desc: 'Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)', tags: 'MCP:u64' },
  { name: 'comp_rsp', desc: 'Total number of HTTP responses that were compressed for this object since the worker process started', tags: 'MCP:u64' },
  { name: 'lastsess', desc: 'How long ago some traffic was seen on this object on this worker process, in seconds', tags: 'MAP:s32' },
  { name: 'last_chk', desc: 'Short description of the latest health check report for this server (see also check_desc)', tags: 'MOP:str' },
  { name: 'last_agt', desc: 'Short description of the latest agent check report for this server (see also agent_desc)', tags: 'MOP:str' },
  { name: 'qtime', desc: 'Time spent in the queue, in milliseconds, averaged over the 1024 last requests (backend/server)', tags: 'MaP:u32' },
  { name: 'ctime', desc: 'Time spent waiting for a connection to complete, in milliseconds, averaged over the 1024 last requests (backend/server)', tags: 'MaP:u32' },
  { name: 'rtime', desc: 'Time spent waiting for a server response, in milliseconds, averaged over the 1024 last requests (backend/server)', tags: 'MaP:u32' },
  { name: 'ttime', desc: 'Total request+response time (request+queue+connect+response+processing), in milliseconds, averaged over the 1024 last requests (backend/server)', tags: 'MaP:u32' },
  { name: 'agent_status', desc: "Status report of the server's latest agent check, prefixed with '*' if a check is currently in progress", tags: 'MOP:str' },
  { name: 'agent_code', desc: 'Status code reported by the latest server agent check', tags: 'MOP:u32' },
  { name: 'agent_duration', desc: 'Total duration of the latest server agent check, in milliseconds', tags: 'MDP:u64' },
  { name: 'check_desc', desc: 'Textual description of the latest health check report for this server', tags: 'MOP:str' },
  { name: 'agent_desc', desc: 'Textual description of the latest agent check report for this server', tags: 'MOP:str' },
  { name: 'check_rise', desc: "Number of successful health checks before declaring a server UP (server 'rise' setting)", tags: 'CGS:u32' },
  { name: 'check_fall', desc: "Number of failed health checks before declaring a server DOWN (server 'fall' setting)", tags: 'CGS:u32' },
  { name: 'check_health', desc: 'Current server health check level (0..fall-1=DOWN, fall..rise-1=UP)', tags: 'CGS:u32' },
  { name: 'agent_rise', desc: "Number of successful agent checks before declaring a server UP (server 'rise' setting)", tags: 'CGS:u32' },
  { name: 'agent_fall', desc: "Number of failed agent checks before declaring a server DOWN (server 'fall' setting)", tags: 'CGS:u32' },
  { name: 'agent_health', desc: 'Current server agent check level (0..fall-1=DOWN, fall..rise-1=UP)', tags: 'CGS:u32' },
  { name: 'addr', desc: "Server's address:port, shown only if show-legends is set, or at levels oper/admin for the CLI", tags: 'CGS:str' },
  { name: 'cookie', desc: "Backend's cookie name or Server's cookie value, shown only if show-legends is set, or at levels oper/admin for the CLI", tags: 'CNS:str' },
  { name: 'mode', desc: "'mode' setting (tcp/http/health/cli)", tags: 'CGS:str' },
  { name: 'algo', desc: "Backend's load balancing algorithm, shown only if show-legends is set, or at levels oper/admin for the CLI", tags: 'CGS:str' },
  { name: 'conn_rate', desc: 'Number of new connections accepted over the last second on the frontend for this worker process', tags: 'MRP:u32' },
  { name: 'conn_rate_max', desc: 'Highest value of connections per second observed since the worker process started', tags: 'MMP:u32' },
  { name: 'conn_tot', desc: 'Total number of new connections accepted on this frontend since the worker process started', tags: 'MCP:u64' },
  { name: 'intercepted', desc: 'Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started', tags: 'MCP:u64' },
  { name: 'dcon', desc: 'Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started', tags: 'MCP:u64' },
  { name: 'dses', desc: 'Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started', tags: 'MCP:u64' },
  { name: 'wrew', desc: 'Total number of failed HTTP header rewrites since the worker process started', tags: 'MCP:u64' },
  { name: 'connect', desc: 'Total number of outgoing connection attempts on this backend/server since the worker process started', tags: 'MCP:u64' },
  { name: 'reuse', desc: 'Total number of reused connection on this backend/server since the worker process started', tags: 'MCP:u64' },
  { name: 'cache_lookups', desc: 'Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started', tags: 'MCP:u64' },
  { name: 'cache_hits', desc: 'Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started', tags: 'MCP:u64' },
  { name: 'srv_icur', desc: 'Current number of idle connections available for reuse on this server', tags: 'MGP:u32' },
  { name: 'src_ilim', desc: "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)", tags: 'CLP:u32' },
  { name: 'qtime_max', desc: 'Maximum observed time spent in the queue, in milliseconds (backend/server)', tags: 'MMP:u32' },
  { name: 'ctime_max', desc: 'Maximum observed time spent waiting for a connection to complete, in milliseconds (backend/server)', tags: 'MMP:u32' },
  { name: 'rtime_max', desc: 'Maximum observed time spent waiting for a server response, in milliseconds (backend/server)', tags: 'MMP:u32' },
  { name: 'ttime_max', desc: 'Maximum observed total request+response time (request+queue+connect+response+processing), in milliseconds (backend/server)', tags: 'MMP:u32' },
  { name: 'eint', desc: 'Total number of internal errors since process started', tags: 'MCP:u64' },
  { name: 'idle_conn_cur', desc: 'Current number of unsafe idle connections', tags: 'MGP:u32' },
  { name: 'safe_conn_cur', desc: 'Current number of safe idle connections', tags: 'MGP:u32' },
  { name: 'used_conn_cur', desc: 'Current number of connections in use', tags: 'MGP:u32' },
  { name: 'need_conn_est', desc: 'Estimated needed number of connections', tags: 'MGP:u32' },
  { name: 'uweight', desc: "Server's user weight, or sum of active servers' user weights for a backend", tags: 'MaP:u32' },
  { name: 'agg_server_status', desc: "Backend's aggregated gauge of servers' status", tags: 'MGP:u32' },
  { name: 'agg_server_check_status', desc: "[DEPRECATED] Backend's aggregated gauge of servers' status", tags: 'MGP:u32' },
  { name: 'agg_check_status', desc: "Backend's aggregated gauge of servers' state check status", tags: 'MGP:u32' },
  // 103: the '-' marker; every row carries '-' here; typed/json output skips it
  { name: '-', desc: '', tags: '' },
  { name: 'ssl_sess', desc: 'Total number of ssl sessions established', tags: 'MCP:u64' },
  { name: 'ssl_reused_sess', desc: 'Total number of ssl sessions reused', tags: 'MCP:u64' },
  { name: 'ssl_failed_handshake', desc: 'Total number of failed handshake', tags: 'MCP:u64' },
  { name: 'h2_headers_rcvd', desc: 'Total number of received HEADERS frames', tags: 'MCP:u64' },
  { name: 'h2_data_rcvd', desc: 'Total number of received DATA frames', tags: 'MCP:u64' },
  { name: 'h2_settings_rcvd', desc: 'Total number of received SETTINGS frames', tags: 'MCP:u64' },
  { name: 'h2_rst_stream_rcvd', desc: 'Total number of received RST_STREAM frames', tags: 'MCP:u64' },
  { name: 'h2_goaway_rcvd', desc: 'Total number of received GOAWAY frames', tags: 'MCP:u64' },
  { name: 'h2_detected_conn_protocol_errors', desc: 'Total number of connection protocol errors', tags: 'MCP:u64' },
  { name: 'h2_detected_strm_protocol_errors', desc: 'Total number of stream protocol errors', tags: 'MCP:u64' },
  { name: 'h2_rst_stream_resp', desc: 'Total number of RST_STREAM sent on detected error', tags: 'MCP:u64' },
  { name: 'h2_goaway_resp', desc: 'Total number of GOAWAY sent on detected error', tags: 'MCP:u64' },
  { name: 'h2_open_connections', desc: 'Count of currently open connections', tags: 'MGP:u64' },
  { name: 'h2_backend_open_streams', desc: 'Count of currently open streams', tags: 'MGP:u64' },
  { name: 'h2_total_connections', desc: 'Total number of connections', tags: 'MCP:u64' },
  { name: 'h2_backend_total_streams', desc: 'Total number of streams', tags: 'MCP:u64' },
  { name: 'h1_open_connections', desc: 'Count of currently open connections', tags: 'MGP:u64' },
  { name: 'h1_open_streams', desc: 'Count of currently open streams', tags: 'MGP:u64' },
  { name: 'h1_total_connections', desc: 'Total number of connections', tags: 'MCP:u64' },
  { name: 'h1_total_streams', desc: 'Total number of streams', tags: 'MCP:u64' },
  { name: 'h1_bytes_in', desc: 'Total number of bytes received', tags: 'MCP:u64' },
  { name: 'h1_bytes_out', desc: 'Total number of bytes send', tags: 'MCP:u64' },
  { name: 'h1_spliced_bytes_in', desc: 'Total number of bytes received using kernel splicing', tags: 'MCP:u64' },
  { name: 'h1_spliced_bytes_out', desc: 'Total number of bytes sendusing kernel splicing', tags: 'MCP:u64' },
]

/** Column index of the '-' marker; typed positions after it are one lower than the column. */
export const MARKER_COL = Col.marker

export interface InfoField {
  /** Typed position (45, 46 and 51 do not exist in this build: zlib and `description`). */
  pos: number
  name: string
  tags: string
  desc: string
}

/** `show info` fields in 2.6 order. */
export const INFO_FIELDS: readonly InfoField[] = [
  { pos: 0, name: 'Name', tags: 'POS:str', desc: 'Product name' },
  { pos: 1, name: 'Version', tags: 'POS:str', desc: 'Product version' },
  { pos: 2, name: 'Release_date', tags: 'POS:str', desc: 'Date of latest source code update' },
  { pos: 3, name: 'Nbthread', tags: 'CGS:u32', desc: 'Number of started threads (global.nbthread)' },
  { pos: 4, name: 'Nbproc', tags: 'CGS:u32', desc: 'Number of started worker processes (historical, always 1)' },
  { pos: 5, name: 'Process_num', tags: 'KGP:u32', desc: 'Relative worker process number (1)' },
  { pos: 6, name: 'Pid', tags: 'SGP:u32', desc: 'This worker process identifier for the system' },
  { pos: 7, name: 'Uptime', tags: 'MDP:str', desc: 'How long ago this worker process was started (days+hours+minutes+seconds)' },
  { pos: 8, name: 'Uptime_sec', tags: 'MDP:u32', desc: 'How long ago this worker process was started (seconds)' },
  { pos: 9, name: 'Memmax_MB', tags: 'CLP:u32', desc: "Worker process's hard limit on memory usage in MB (-m on command line)" },
  { pos: 10, name: 'PoolAlloc_MB', tags: 'MGP:u32', desc: 'Amount of memory allocated in pools (in MB)' },
  { pos: 11, name: 'PoolUsed_MB', tags: 'MGP:u32', desc: 'Amount of pool memory currently used (in MB)' },
  { pos: 12, name: 'PoolFailed', tags: 'MCP:u32', desc: 'Number of failed pool allocations since this worker was started' },
  { pos: 13, name: 'Ulimit-n', tags: 'CLP:u32', desc: 'Hard limit on the number of per-process file descriptors' },
  { pos: 14, name: 'Maxsock', tags: 'CLP:u32', desc: 'Hard limit on the number of per-process sockets' },
  { pos: 15, name: 'Maxconn', tags: 'CLP:u32', desc: 'Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)' },
  { pos: 16, name: 'Hard_maxconn', tags: 'CLP:u32', desc: 'Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)' },
  { pos: 17, name: 'CurrConns', tags: 'MGP:u32', desc: 'Current number of connections on this worker process' },
  { pos: 18, name: 'CumConns', tags: 'MCP:u32', desc: 'Total number of connections on this worker process since started' },
  { pos: 19, name: 'CumReq', tags: 'MCP:u32', desc: 'Total number of requests on this worker process since started' },
  { pos: 20, name: 'MaxSslConns', tags: 'MMP:u32', desc: 'Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited' },
  { pos: 21, name: 'CurrSslConns', tags: 'MGP:u32', desc: 'Current number of SSL endpoints on this worker process (front+back)' },
  { pos: 22, name: 'CumSslConns', tags: 'MCP:u32', desc: 'Total number of SSL endpoints on this worker process since started (front+back)' },
  { pos: 23, name: 'Maxpipes', tags: 'CLP:u32', desc: 'Hard limit on the number of pipes for splicing, 0=unlimited' },
  { pos: 24, name: 'PipesUsed', tags: 'MGP:u32', desc: 'Current number of pipes in use in this worker process' },
  { pos: 25, name: 'PipesFree', tags: 'MGP:u32', desc: 'Current number of allocated and available pipes in this worker process' },
  { pos: 26, name: 'ConnRate', tags: 'MRP:u32', desc: 'Number of front connections created on this worker process over the last second' },
  { pos: 27, name: 'ConnRateLimit', tags: 'CLP:u32', desc: 'Hard limit for ConnRate (global.maxconnrate)' },
  { pos: 28, name: 'MaxConnRate', tags: 'MMP:u32', desc: 'Highest ConnRate reached on this worker process since started (in connections per second)' },
  { pos: 29, name: 'SessRate', tags: 'MRP:u32', desc: 'Number of sessions created on this worker process over the last second' },
  { pos: 30, name: 'SessRateLimit', tags: 'CLP:u32', desc: 'Hard limit for SessRate (global.maxsessrate)' },
  { pos: 31, name: 'MaxSessRate', tags: 'MRP:u32', desc: 'Highest SessRate reached on this worker process since started (in sessions per second)' },
  { pos: 32, name: 'SslRate', tags: 'MRP:u32', desc: 'Number of SSL connections created on this worker process over the last second' },
  { pos: 33, name: 'SslRateLimit', tags: 'CLP:u32', desc: 'Hard limit for SslRate (global.maxsslrate)' },
  { pos: 34, name: 'MaxSslRate', tags: 'MMP:u32', desc: 'Highest SslRate reached on this worker process since started (in connections per second)' },
  { pos: 35, name: 'SslFrontendKeyRate', tags: 'MGP:u32', desc: 'Number of SSL keys created on frontends in this worker process over the last second' },
  { pos: 36, name: 'SslFrontendMaxKeyRate', tags: 'MMP:u32', desc: 'Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)' },
  { pos: 37, name: 'SslFrontendSessionReuse_pct', tags: 'MGP:u32', desc: 'Percent of frontend SSL connections which did not require a new key' },
  { pos: 38, name: 'SslBackendKeyRate', tags: 'MRP:u32', desc: 'Number of SSL keys created on backends in this worker process over the last second' },
  { pos: 39, name: 'SslBackendMaxKeyRate', tags: 'MMP:u32', desc: 'Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)' },
  { pos: 40, name: 'SslCacheLookups', tags: 'MCP:u32', desc: 'Total number of SSL session ID lookups in the SSL session cache on this worker since started' },
  { pos: 41, name: 'SslCacheMisses', tags: 'MCP:u32', desc: "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started" },
  { pos: 42, name: 'CompressBpsIn', tags: 'MRP:u32', desc: 'Number of bytes submitted to the HTTP compressor in this worker process over the last second' },
  { pos: 43, name: 'CompressBpsOut', tags: 'MRP:u32', desc: 'Number of bytes emitted by the HTTP compressor in this worker process over the last second' },
  { pos: 44, name: 'CompressBpsRateLim', tags: 'CLP:u32', desc: 'Limit of CompressBpsOut beyond which HTTP compression is automatically disabled' },
  { pos: 47, name: 'Tasks', tags: 'MGP:u32', desc: 'Total number of tasks in the current worker process (active + sleeping)' },
  { pos: 48, name: 'Run_queue', tags: 'MGP:u32', desc: 'Total number of active tasks+tasklets in the current worker process' },
  { pos: 49, name: 'Idle_pct', tags: 'MaP:u32', desc: 'Percentage of last second spent waiting in the current worker thread' },
  { pos: 50, name: 'node', tags: 'COS:str', desc: 'Node name (global.node)' },
  { pos: 52, name: 'Stopping', tags: 'MGP:u32', desc: '1 if the worker process is currently stopping, otherwise zero' },
  { pos: 53, name: 'Jobs', tags: 'MGP:u32', desc: 'Current number of active jobs on the current worker process (frontend connections, master connections, listeners)' },
  { pos: 54, name: 'Unstoppable Jobs', tags: 'MGP:u32', desc: 'Current number of unstoppable jobs on the current worker process (master connections)' },
  { pos: 55, name: 'Listeners', tags: 'MGP:u32', desc: 'Current number of active listeners on the current worker process' },
  { pos: 56, name: 'ActivePeers', tags: 'MGP:u32', desc: 'Current number of verified active peers connections on the current worker process' },
  { pos: 57, name: 'ConnectedPeers', tags: 'MGP:u32', desc: 'Current number of peers having passed the connection step on the current worker process' },
  { pos: 58, name: 'DroppedLogs', tags: 'MGP:u32', desc: 'Total number of dropped logs for current worker process since started' },
  { pos: 59, name: 'BusyPolling', tags: 'MGP:u32', desc: '1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)' },
  { pos: 60, name: 'FailedResolutions', tags: 'MGP:u32', desc: 'Total number of failed DNS resolutions in current worker process since started' },
  { pos: 61, name: 'TotalBytesOut', tags: 'MGP:u64', desc: 'Total number of bytes emitted by current worker process since started' },
  { pos: 62, name: 'TotalSplicdedBytesOut', tags: 'MGP:u64', desc: 'Total number of bytes emitted by current worker process through a kernel pipe since started' },
  { pos: 63, name: 'BytesOutRate', tags: 'MRP:u64', desc: 'Number of bytes emitted by current worker process over the last second' },
  { pos: 64, name: 'DebugCommandsIssued', tags: 'MGP:u32', desc: 'Number of debug commands issued on this process (anything > 0 is unsafe)' },
  { pos: 65, name: 'CumRecvLogs', tags: 'MCP:u32', desc: 'Total number of log messages received by log-forwarding listeners on this worker process since started' },
  { pos: 66, name: 'Build info', tags: 'POS:str', desc: 'Build info' },
  { pos: 67, name: 'Memmax_bytes', tags: 'CLP:u32', desc: "Worker process's hard limit on memory usage in byes (-m on command line)" },
  { pos: 68, name: 'PoolAlloc_bytes', tags: 'MGP:u64', desc: 'Amount of memory allocated in pools (in bytes)' },
  { pos: 69, name: 'PoolUsed_bytes', tags: 'MGP:u64', desc: 'Amount of pool memory currently used (in bytes)' },
  { pos: 70, name: 'Start_time_sec', tags: 'MDP:u32', desc: 'Start time in seconds' },
  { pos: 71, name: 'Tainted', tags: 'SGP:str', desc: 'Experimental features used' },
]

const ORIGIN: Record<string, string> = { M: 'Metric', S: 'Status', K: 'Key', C: 'Config', P: 'Product' }
const NATURE: Record<string, string> = {
  A: 'Age', a: 'Avg', C: 'Counter', D: 'Duration', G: 'Gauge', L: 'Limit', M: 'Max', m: 'Min',
  N: 'Name', O: 'Output', R: 'Rate', T: 'Time',
}
const SCOPE: Record<string, string> = { C: 'Cluster', P: 'Process', S: 'Service', s: 'System' }

/** The JSON `"tags"` object for a 3-letter tag string such as 'MCP'. */
export function jsonTags(tags: string): string {
  return `{"origin":"${ORIGIN[tags[0]] ?? 'Unknown'}","nature":"${NATURE[tags[1]] ?? 'Unknown'}",` +
    `"scope":"${SCOPE[tags[2]] ?? 'Unknown'}"}`
}

/** `show schema json`, byte for byte as 2.6 prints it (including its odd `"Avg", "Unknown"` space). */
export const SCHEMA_JSON = '{"$schema":"http://json-schema.org/draft-04/schema#","oneOf":[{"title":"Info","type":"array","items":{"title":"InfoItem","type":"object","properties":{"field":{"$ref":"#/definitions/field"},"processNum":{"$ref":"#/definitions/processNum"},"tags":{"$ref":"#/definitions/tags"},"value":{"$ref":"#/definitions/typedValue"}},"required":["field","processNum","tags","value"]}},{"title":"Stat","type":"array","items":{"title":"InfoItem","type":"object","properties":{"objType":{"enum":["Frontend","Backend","Listener","Server","Unknown"]},"proxyId":{"type":"integer","minimum":0},"id":{"type":"integer","minimum":0},"field":{"$ref":"#/definitions/field"},"processNum":{"$ref":"#/definitions/processNum"},"tags":{"$ref":"#/definitions/tags"},"typedValue":{"$ref":"#/definitions/typedValue"}},"required":["objType","proxyId","id","field","processNum","tags","value"]}},{"title":"Error","type":"object","properties":{"errorStr":{"type":"string"}},"required":["errorStr"]}],"definitions":{"field":{"type":"object","pos":{"type":"integer","minimum":0},"name":{"type":"string"},"required":["pos","name"]},"processNum":{"type":"integer","minimum":1},"tags":{"type":"object","origin":{"type":"string","enum":["Metric","Status","Key","Config","Product","Unknown"]},"nature":{"type":"string","enum":["Gauge","Limit","Min","Max","Rate","Counter","Duration","Age","Time","Name","Output","Avg", "Unknown"]},"scope":{"type":"string","enum":["Cluster","Process","Service","System","Unknown"]},"required":["origin","nature","scope"]},"typedValue":{"type":"object","oneOf":[{"$ref":"#/definitions/typedValue/definitions/s32Value"},{"$ref":"#/definitions/typedValue/definitions/s64Value"},{"$ref":"#/definitions/typedValue/definitions/u32Value"},{"$ref":"#/definitions/typedValue/definitions/u64Value"},{"$ref":"#/definitions/typedValue/definitions/strValue"}],"definitions":{"s32Value":{"properties":{"type":{"type":"string","enum":["s32"]},"value":{"type":"integer","minimum":-2147483648,"maximum":2147483647}},"required":["type","value"]},"s64Value":{"properties":{"type":{"type":"string","enum":["s64"]},"value":{"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991}},"required":["type","value"]},"u32Value":{"properties":{"type":{"type":"string","enum":["u32"]},"value":{"type":"integer","minimum":0,"maximum":4294967295}},"required":["type","value"]},"u64Value":{"properties":{"type":{"type":"string","enum":["u64"]},"value":{"type":"integer","minimum":0,"maximum":9007199254740991}},"required":["type","value"]},"strValue":{"properties":{"type":{"type":"string","enum":["str"]},"value":{"type":"string"}},"required":["type","value"]},"unknownValue":{"properties":{"type":{"type":"integer","minimum":0},"value":{"type":"string","enum":["unknown"]}},"required":["type","value"]}}}}}'
