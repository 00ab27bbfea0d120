// The contract between the main thread's generation code and the Runtime API (main/runtime/): what
// the sockets need from the running process, and the small types every runtime module shares.
// `startRuntimeSockets(ctx, paths)` itself is in server.ts (not re-exported here: that would make
// an import cycle). Main thread only; nothing in worker/ imports it.

import type { Config } from '../../shared/config/types.ts'
import type { Cells } from '../../shared/cells.ts'

/**
 * What the Runtime API reads and calls. The lead's generation code implements it; tests pass a fake.
 * Every verb calls `current()` when it runs, so after a reload the next command sees the new
 * generation (a session opened before the reload is not pinned to the old one).
 */
export interface RuntimeContext {
  /** The live generation: its validated Config, its cells and its number. */
  current(): { config: Config; cells: Cells; generation: number }
  /** Our extension verb `reload` (admin only): parse → validate → new generation. Must not throw. */
  reload(): Promise<{ ok: boolean; message: string }>
  /** Our extension verb `show workers`: one entry per live worker thread. */
  workers(): Array<{ threadId: number; slot: number; generation: number; connections: number }>
  /** Process start, ms since the epoch (show info Uptime, Start_time_sec). */
  startedAtMs: number
  /** portico's version, e.g. "0.1.0" (show version, show info Version). No spaces: hatop rejects them. */
  version: string
  /** pino-like logger. */
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
}

/** Socket paths from [runtime]; null = that socket is off. */
export interface RuntimeSocketPaths {
  statsSocket: string | null
  adminSocket: string | null
}

/** Knobs with HAProxy's defaults; only tests change them. */
export interface RuntimeOptions {
  /** Idle time before a session is closed silently (HAProxy `stats timeout`, default 10 s). */
  idleTimeoutMs?: number
  /** Concurrent sessions per socket (HAProxy `stats maxconn`, default 10); later ones wait. */
  maxSessions?: number
  /** Longest request line; a longer one resets the connection (HAProxy tune.bufsize, 16384). */
  maxLineBytes?: number
  /** show info Release_date, "YYYY/MM/DD" without spaces. */
  releaseDate?: string
}

export interface RuntimeSockets {
  /** Stop accepting, end every session, remove the socket files we created. */
  close(): Promise<void>
}

/**
 * CLI access levels as in HAProxy (ACCESS_LVL_*). The stats socket opens sessions at User, the
 * admin socket at Admin; a session may lower itself with `operator` / `user`.
 */
export const Level = { User: 1, Operator: 2, Admin: 3 } as const
export type Level = (typeof Level)[keyof typeof Level]

export const LEVEL_NAMES: Record<Level, string> = { 1: 'user', 2: 'operator', 3: 'admin' }

/**
 * Syslog severity of a reply, for `set severity-output` ([3]: / [err]:). Raw output (CSV, get
 * weight, …) never gets a prefix, as in HAProxy where only cli_msg/cli_err messages do.
 */
export const Severity = { Raw: -1, Err: 3, Notice: 5, Info: 6 } as const
export type Severity = (typeof Severity)[keyof typeof Severity]

export const SeverityOutput = { None: 0, Number: 1, String: 2 } as const
export type SeverityOutput = (typeof SeverityOutput)[keyof typeof SeverityOutput]

/** One command's answer. `text` is '' or whole lines, each ending in '\n'; framing adds the terminator. */
export interface Reply {
  text: string
  severity: Severity
}

/** The per-connection state a verb may read or change (server.ts `CliSession` implements it). */
export interface Session {
  readonly ctx: RuntimeContext
  readonly options: Required<RuntimeOptions>
  /** Level the socket grants; `show stat` hides addr/cookie/algo below Operator by this, as HAProxy does. */
  readonly socketLevel: Level
  /** Current level, lowered by `operator` / `user`. */
  level: Level
  /** Interactive mode (`prompt`): terminator "\n> ", connection kept. */
  prompt: boolean
  severityOutput: SeverityOutput
  idleTimeoutMs: number
  /** Set by `quit`: close at once, nothing more written. */
  quit: boolean
  /** Set by `operator -` / `user -`: no terminator after this command (HAProxy NOLF). */
  noLf: boolean
}

export function raw(text: string): Reply {
  return { text, severity: Severity.Raw }
}

/** An error message, HAProxy cli_err: the text plus '\n'. */
export function err(message: string): Reply {
  return { text: message + '\n', severity: Severity.Err }
}

/** An informational message, HAProxy cli_msg(LOG_INFO). */
export function info(message: string): Reply {
  return { text: message + '\n', severity: Severity.Info }
}

export function notice(message: string): Reply {
  return { text: message + '\n', severity: Severity.Notice }
}

/** A silent success: the reply is the bare terminator. */
export const OK: Reply = { text: '', severity: Severity.Raw }

export const PERMISSION_DENIED: Reply = err('Permission denied')
