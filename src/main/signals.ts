// What the process does on each signal. Main thread only; installed by runMain before anything
// is bound, so a signal that arrives while starting never takes its default action (HUP and TERM
// would kill the process without a word).
//
//   SIGHUP   reload: parse, validate, new generation, switch, old one drains (Main.reload)
//   SIGTERM  graceful stop: listen sockets closed, in-flight requests finish within
//            global.drain_timeout, logs flushed, exit 0 (a second SIGTERM changes nothing)
//   SIGINT   immediate stop: exit 130 now; open connections are cut
//   SIGUSR1  reopen the log files (after logrotate moved them)

import type { Logs } from './log.ts'

/** What the handlers need from Main (an interface, so this file does not import main.ts). */
export interface Lifecycle {
  reload(): Promise<{ ok: boolean; message: string }>
  stop(): Promise<void>
}

export function installSignals(main: Lifecycle, logs: Logs): void {
  process.on('SIGHUP', () => {
    logs.error.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP: reloading the configuration')
    void main.reload()
  })
  process.on('SIGUSR1', () => logs.reopen())
  process.on('SIGTERM', () => {
    logs.error.info({ event: 'signal', signal: 'SIGTERM' }, 'SIGTERM: graceful stop')
    main.stop().then(() => process.exit(0), (err: Error) => {
      process.stderr.write(`portico: stop failed: ${err.stack ?? err.message}\n`)
      process.exit(1)
    })
  })
  process.on('SIGINT', () => {
    logs.error.info({ event: 'stopped', signal: 'SIGINT' }, 'stopped by SIGINT')
    logs.flush()
    process.exit(130)
  })
}
