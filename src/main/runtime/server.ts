// The stats and admin Unix sockets and HAProxy's CLI framing on them. Main thread only.
//
// Framing (HAProxy 2.6 cli_io_handler), per connection:
//   * a request ends at an unescaped '\n' or ';' ("\;" and "\\" are escapes); a '\r' before it is dropped;
//   * each command's reply is followed by the terminator: "\n", or "\n> " in interactive (prompt) mode;
//   * non-interactive: after a command, the connection is closed unless more input is already
//     buffered (so two lines written in one go both run; a line sent later finds the door shut);
//   * `quit` closes at once with no output; a last line without '\n' before EOF is not run;
//   * idle timeout (10 s, `set timeout cli`) closes silently; a request longer than 16384 bytes
//     resets the connection; at most 10 sessions per socket run at once, later ones wait.
// The stats socket opens sessions at level user (read-only), the admin socket at level admin.

import { once } from 'node:events'
import { chmod, lstat, mkdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { dirname } from 'node:path'
import { Level, LEVEL_NAMES, Severity, SeverityOutput } from './context.ts'
import type {
  Reply, RuntimeContext, RuntimeOptions, RuntimeSocketPaths, RuntimeSockets, Session,
} from './context.ts'
import { runCommand } from './verbs.ts'

/** HAProxy's defaults: `stats timeout 10s`, `stats maxconn 10`, tune.bufsize 16384. */
export const DEFAULT_OPTIONS: Required<RuntimeOptions> = {
  idleTimeoutMs: 10_000,
  maxSessions: 10,
  maxLineBytes: 16_384,
  // Reported as show info Release_date (hatop needs one, without spaces). Bump on release.
  releaseDate: '2026/11/26',
}

/** File modes: the admin socket is the owner's alone; the stats socket also the owner's group. */
export const ADMIN_SOCKET_MODE = 0o600
export const STATS_SOCKET_MODE = 0o660

/** Sessions waiting for a free slot beyond this are dropped (HAProxy leaves them in the backlog). */
const MAX_WAITING = 256
/** Unix socket paths are limited by sockaddr_un.sun_path (108 bytes with the NUL on Linux). */
const MAX_SUN_PATH = 107

const SEVERITY_NAMES: Record<number, string> = { 3: 'err', 5: 'notice', 6: 'info' }

/** Index of the first unescaped ';' or '\n' in `buf`, or -1. */
export function findDelimiter(buf: Buffer): number {
  for (let k = 0; k < buf.length; k++) {
    const c = buf[k]
    if (c === 0x5c) k++ // backslash: the next byte is escaped, even a ';' or '\n'
    else if (c === 0x3b || c === 0x0a) return k
  }
  return -1
}

/** One connection on a runtime socket. */
class CliSession implements Session {
  readonly ctx: RuntimeContext
  readonly options: Required<RuntimeOptions>
  readonly socketLevel: Level
  level: Level
  prompt = false
  severityOutput: SeverityOutput = SeverityOutput.None
  idleTimeoutMs: number
  quit = false
  noLf = false
  private readonly socket: Socket
  private readonly socketName: string
  private pending: Buffer = Buffer.alloc(0)
  /** The client half-closed: run what is complete, then close. */
  private ended = false
  /** An async verb (reload) is running; input waits, the idle timer is ignored. */
  private busy = false
  private done = false

  constructor(ctx: RuntimeContext, options: Required<RuntimeOptions>, socketLevel: Level, socket: Socket, socketName: string) {
    this.ctx = ctx
    this.options = options
    this.socketLevel = socketLevel
    this.level = socketLevel
    this.idleTimeoutMs = options.idleTimeoutMs
    this.socket = socket
    this.socketName = socketName
    this.onData = this.onData.bind(this)
    this.onEnd = this.onEnd.bind(this)
    this.onTimeout = this.onTimeout.bind(this)
  }

  start(): void {
    const s = this.socket
    s.on('data', this.onData)
    s.on('end', this.onEnd)
    s.on('timeout', this.onTimeout)
    s.on('error', () => s.destroy()) // a client going away mid-reply is not our problem
    s.setTimeout(this.idleTimeoutMs)
    s.resume()
  }

  private onData(chunk: Buffer): void {
    if (this.done) return // closing: late input is dropped, as HAProxy drops it
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    this.pump()
  }

  private onEnd(): void {
    this.ended = true
    this.pump()
  }

  private onTimeout(): void {
    if (this.busy) return
    this.done = true
    this.socket.destroy()
  }

  /** Runs every complete request in the buffer, in order. */
  private pump(): void {
    while (!this.busy && !this.done) {
      const idx = findDelimiter(this.pending)
      if (idx < 0 || idx >= this.options.maxLineBytes) {
        if (idx >= 0 || this.pending.length >= this.options.maxLineBytes) {
          // HAProxy cannot hold the line in its buffer and resets the connection, no reply.
          this.done = true
          this.socket.destroy()
        } else if (this.ended) {
          this.finish() // nothing more, or a last line without its '\n': not run
        }
        return
      }
      let end = idx
      if (end > 0 && this.pending[end - 1] === 0x0d) end--
      const line = this.pending.toString('utf8', 0, end)
      this.pending = this.pending.subarray(idx + 1)
      let reply: Reply | Promise<Reply>
      try {
        reply = runCommand(this, line, this.audit)
      } catch (e) {
        // A verb bug must not take the main thread down; the client sees an error, the log has it.
        this.ctx.log.warn({ err: e, command: line }, 'runtime api: command failed')
        reply = { text: `internal error: ${(e as Error).message}\n`, severity: Severity.Err }
      }
      if (reply instanceof Promise) {
        this.busy = true
        reply.then(
          (r) => this.afterAsync(r),
          (e: unknown) => this.afterAsync({ text: `${(e as Error).message}\n`, severity: Severity.Err }),
        )
        return
      }
      this.reply(reply)
    }
  }

  private afterAsync(r: Reply): void {
    this.busy = false
    this.socket.setTimeout(this.idleTimeoutMs) // restart the idle clock after a long command
    this.reply(r)
    this.pump()
  }

  /** Writes one reply and its terminator, then applies the non-interactive close rule. */
  private reply(r: Reply): void {
    if (this.done || this.socket.destroyed) {
      this.done = true
      return
    }
    if (this.quit) {
      this.finish()
      return
    }
    let out = r.text
    if (this.severityOutput !== SeverityOutput.None && r.severity !== Severity.Raw && out !== '') {
      const tag = this.severityOutput === SeverityOutput.Number ? String(r.severity) : SEVERITY_NAMES[r.severity]
      out = `[${tag}]: ${out}`
    }
    if (!this.noLf) out += this.prompt ? '\n> ' : '\n'
    this.noLf = false
    if (out !== '') this.socket.write(out)
    if (this.socket.timeout !== this.idleTimeoutMs) this.socket.setTimeout(this.idleTimeoutMs)
    if (!this.prompt && this.pending.length === 0) this.finish()
  }

  /** Close our side after the last reply is flushed. */
  private finish(): void {
    if (this.done) return
    this.done = true
    this.socket.end(() => this.socket.destroy())
  }

  /** Logs every command that needs more than user level (writes), with the socket it came on. */
  private readonly audit = (verbWords: readonly string[], line: string): void => {
    this.ctx.log.info({ socket: this.socketName, level: LEVEL_NAMES[this.level], command: line }, `runtime api: ${verbWords.join(' ')}`)
  }
}

/** One listening runtime socket with its sessions. */
class RuntimeSocket {
  readonly path: string
  readonly level: Level
  readonly mode: number
  private readonly ctx: RuntimeContext
  private readonly options: Required<RuntimeOptions>
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private readonly waiting: Socket[] = []
  private running = 0
  /** Inode of the file we put at `path`, so close() removes only our own socket file. */
  private ino = -1

  constructor(ctx: RuntimeContext, options: Required<RuntimeOptions>, path: string, level: Level, mode: number) {
    this.ctx = ctx
    this.options = options
    this.path = path
    this.level = level
    this.mode = mode
    // allowHalfOpen: a client that half-closes after its request (haproxy_exporter does) must
    // still get the reply, even from a slow verb such as reload.
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.onConnection(s))
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket)
    socket.once('close', () => {
      this.sockets.delete(socket)
      const w = this.waiting.indexOf(socket)
      if (w >= 0) this.waiting.splice(w, 1)
      else this.sessionEnded()
    })
    if (this.running >= this.options.maxSessions) {
      if (this.waiting.length >= MAX_WAITING) {
        socket.destroy()
        return
      }
      socket.on('error', () => socket.destroy())
      this.waiting.push(socket)
      return
    }
    this.startSession(socket)
  }

  private startSession(socket: Socket): void {
    this.running++
    new CliSession(this.ctx, this.options, this.level, socket, LEVEL_NAMES[this.level] === 'admin' ? 'admin' : 'stats').start()
  }

  private sessionEnded(): void {
    this.running--
    const next = this.waiting.shift()
    if (next !== undefined) this.startSession(next)
  }

  /** Creates the socket file: parent dir, stale file removal, mode set before the file is visible. */
  async listen(): Promise<void> {
    const path = this.path
    try {
      await mkdir(dirname(path), { recursive: true })
    } catch (e) {
      throw socketError(path, 'cannot create its directory', e)
    }
    await removeStale(path)
    // Listen on a temporary name, chmod it, then rename it into place (as HAProxy does): the path
    // never exists with the umask's looser mode, and a stale file is replaced atomically.
    const tmp = `${path}.${process.pid}.tmp`
    const direct = Buffer.byteLength(tmp) > MAX_SUN_PATH
    const bindPath = direct ? path : tmp
    if (Buffer.byteLength(path) > MAX_SUN_PATH) {
      throw socketError(path, `path is ${Buffer.byteLength(path)} bytes, Unix sockets allow at most ${MAX_SUN_PATH}`, null)
    }
    try {
      if (!direct) await rm(tmp, { force: true })
      this.server.listen(bindPath)
      await once(this.server, 'listening')
      await chmod(bindPath, this.mode)
      if (!direct) await rename(tmp, path)
      this.ino = (await stat(path)).ino
    } catch (e) {
      this.server.close()
      if (!direct) await rm(tmp, { force: true }).catch(() => {})
      throw socketError(path, 'cannot listen', e)
    }
    this.ctx.log.info({ path, level: LEVEL_NAMES[this.level], mode: '0' + this.mode.toString(8) }, 'runtime socket listening')
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    this.waiting.length = 0
    await closed
    try {
      if ((await stat(this.path)).ino === this.ino) await unlink(this.path)
    } catch {
      // already gone, or replaced by another process: leave it
    }
  }
}

function socketError(path: string, what: string, cause: unknown): Error {
  const detail = cause instanceof Error ? `: ${cause.message}` : ''
  return new Error(`runtime socket ${path}: ${what}${detail}`, { cause })
}

/**
 * A socket file left by a process that died is removed; a live one (something accepts on it) or a
 * file that is not a socket is an error: never steal another process's socket or delete a file.
 */
async function removeStale(path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw socketError(path, 'cannot inspect the existing file', e)
  }
  if (!isSocket) throw socketError(path, 'exists and is not a socket; refusing to replace it', null)
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path)
    const timer = setTimeout(() => {
      c.destroy()
      resolve(true) // it accepted the connect but is slow: treat as alive
    }, 1000)
    c.once('connect', () => {
      clearTimeout(timer)
      c.destroy()
      resolve(true)
    })
    c.once('error', () => {
      clearTimeout(timer)
      resolve(false)
    })
  })
  if (live) throw socketError(path, 'another process is listening on it', null)
}

/**
 * Starts the stats socket (level user, mode 0660) and the admin socket (level admin, mode 0600);
 * a null path leaves that one off. Rejects with a message naming the path if a socket cannot be
 * created (directory not writable, path taken by a live process or by a non-socket file).
 */
export async function startRuntimeSockets(
  ctx: RuntimeContext, paths: RuntimeSocketPaths, options: RuntimeOptions = {},
): Promise<RuntimeSockets> {
  const opts: Required<RuntimeOptions> = { ...DEFAULT_OPTIONS, ...options }
  if (paths.statsSocket !== null && paths.statsSocket === paths.adminSocket) {
    throw new Error(`runtime sockets: stats_socket and admin_socket are the same path (${paths.statsSocket})`)
  }
  const started: RuntimeSocket[] = []
  try {
    if (paths.statsSocket !== null) {
      const s = new RuntimeSocket(ctx, opts, paths.statsSocket, Level.User, STATS_SOCKET_MODE)
      await s.listen()
      started.push(s)
    }
    if (paths.adminSocket !== null) {
      const s = new RuntimeSocket(ctx, opts, paths.adminSocket, Level.Admin, ADMIN_SOCKET_MODE)
      await s.listen()
      started.push(s)
    }
  } catch (e) {
    await Promise.all(started.map((s) => s.close()))
    throw e
  }
  return {
    async close(): Promise<void> {
      await Promise.all(started.map((s) => s.close()))
    },
  }
}
