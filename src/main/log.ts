// The process's two logs, owned by the main thread: the error log (portico's own events, pino JSON
// to stderr or a file) and the access log (one line per request, shipped from the workers through
// the rings, to stdout, a file, or off). SIGUSR1 calls reopen() so logrotate can move the files.

import pino from 'pino'
import type { Logger } from 'pino'
import type { LogConfig } from '../shared/config/types.ts'

export interface Logs {
  error: Logger
  /** null when `[log] access = "off"`. Records arrive as ready-made JSON lines from the workers. */
  access: AccessSink | null
  /**
   * Open the log files again by name (after logrotate moved them). Lines written meanwhile are
   * buffered and go to the new file; if it cannot be opened (permissions after dropping root),
   * the error is reported and writing goes on to the old one.
   */
  reopen(): void
  /** Write out what is buffered, synchronously, as far as possible (before an immediate exit). */
  flush(): void
  /** Write out what is buffered and close the files (graceful stop); bounded by `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>
}

/** Writes access-log lines (already JSON, from the workers) to the configured destination. */
export interface AccessSink {
  writeLine(line: string): void
}

type Destination = ReturnType<typeof pino.destination>

function destination(target: string, fd: number): Destination {
  const dest = target === 'stdout' || target === 'stderr'
    ? pino.destination({ fd, sync: false })
    : pino.destination({ dest: target, sync: false, mkdir: true })
  // Without a listener an 'error' (a reopen refused, a full disk) would be thrown and end the
  // process; a log that cannot be written must not stop the proxy.
  dest.on('error', (err: Error) => {
    try { process.stderr.write(`portico: log ${target}: ${err.message}\n`) } catch { /* nowhere left to say it */ }
  })
  return dest
}

function closeDestination(dest: Destination, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, timeoutMs)
    dest.once('close', () => { clearTimeout(t); resolve() })
    try { dest.end() } catch { clearTimeout(t); resolve() }
  })
}

export function openLogs(config: LogConfig): Logs {
  const errorDest = destination(config.error, 2)
  const error = pino({ level: config.level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, errorDest)
  let accessDest: Destination | null = null
  let access: AccessSink | null = null
  if (config.access !== 'off') {
    const dest = destination(config.access, 1)
    accessDest = dest
    access = { writeLine: (line: string) => { dest.write(line) } }
  }
  return {
    error,
    access,
    reopen() {
      // Only files can be reopened; stdout/stderr belong to whoever started us.
      if (config.error !== 'stderr') errorDest.reopen()
      if (accessDest !== null && config.access !== 'stdout') accessDest.reopen()
      error.info({ event: 'logs_reopened' }, 'log files reopened')
    },
    flush() {
      try { errorDest.flushSync() } catch { /* not ready yet: nothing buffered */ }
      if (accessDest !== null) try { accessDest.flushSync() } catch { /* idem */ }
    },
    async close(timeoutMs = 5000) {
      await Promise.all([closeDestination(errorDest, timeoutMs), accessDest === null ? null : closeDestination(accessDest, timeoutMs)])
    },
  }
}
