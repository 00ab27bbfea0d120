// Child processes of the benchmark harness: spawning (each in its own process group so one
// kill reaches a master and its workers), killing everything on exit, Ctrl-C or a crash,
// and reading CPU time and RSS of a process tree from /proc. Runs on the harness main thread.

import { spawn, spawnSync, execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import net from 'node:net'

/** A process the harness started, with the tail of its output kept for error messages. */
export class Proc {
  name: string
  child: ChildProcess
  pid: number
  output: string
  exitCode: number | null
  exitSignal: string | null
  hasExited: boolean
  exited: Promise<void>

  constructor(name: string, child: ChildProcess) {
    this.name = name
    this.child = child
    this.pid = child.pid ?? -1
    this.output = ''
    this.exitCode = null
    this.exitSignal = null
    this.hasExited = false
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.hasExited = true
        this.exitCode = code
        this.exitSignal = signal
        live.delete(this)
        resolve()
      })
      // A failed spawn (ENOENT) emits 'error' and no 'exit'.
      child.once('error', (err) => {
        this.hasExited = true
        this.output += `\nspawn failed: ${err.message}`
        live.delete(this)
        resolve()
      })
    })
    const keep = (chunk: Buffer): void => {
      // Keep only the last 8 KiB: enough to show why something failed to start.
      this.output = (this.output + chunk.toString('utf8')).slice(-8192)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
  }

  /** Last lines of the output, for "why did it not start". */
  tail(lines = 12): string {
    return this.output.trim().split('\n').slice(-lines).join('\n')
  }

  describeExit(): string {
    if (!this.hasExited) return 'still running'
    return this.exitSignal !== null ? `killed by ${this.exitSignal}` : `exited with code ${this.exitCode}`
  }
}

const live = new Set<Proc>()

/**
 * Starts `command` through bash so that `ulimit -n` can be raised first (Node cannot call
 * setrlimit); `exec` keeps the pid ours. The child leads its own process group.
 */
export function startProc(
  name: string,
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; nofile?: boolean; isStdinPipe?: boolean } = {},
): Proc {
  const quoted = argv.map(shellQuote).join(' ')
  // Raise the soft fd limit to the hard limit: 10,000 idle connections need it, and a
  // container may forbid going above its hard limit, so never ask for more.
  const script = opts.nofile === false ? `exec ${quoted}` : `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`
  const child = spawn('bash', ['-c', script], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: [opts.isStdinPipe === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  })
  const proc = new Proc(name, child)
  live.add(proc)
  return proc
}

export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/** Sends `signal` to the process group of `proc` (master and workers alike). */
function signalGroup(proc: Proc, signal: NodeJS.Signals): void {
  if (proc.pid <= 0 || proc.hasExited) return
  try {
    process.kill(-proc.pid, signal)
  } catch {
    try {
      process.kill(proc.pid, signal)
    } catch {
      // already gone
    }
  }
}

/** The hard RLIMIT_NOFILE of this process: the most fds a child can raise itself to. */
export function fdHardLimit(): number {
  const m = /Max open files\s+\S+\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'))
  if (m === null || m[1] === 'unlimited') return 1_048_576
  return Number(m[1])
}

/** Stops one process: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProc(proc: Proc, graceMs = 2000): Promise<void> {
  if (proc.hasExited) return
  signalGroup(proc, 'SIGTERM')
  const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs)
  await proc.exited
  clearTimeout(timer)
  // The leader may be gone while a worker of its group lingers; make sure.
  try {
    process.kill(-proc.pid, 'SIGKILL')
  } catch {
    // group empty
  }
}

/** Stops every process still running; used at the end and on errors. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stopProc(p)))
}

/** Synchronous last resort for process 'exit' and signals: SIGKILL every group we started. */
export function killAllNow(): void {
  for (const proc of live) {
    try {
      process.kill(-proc.pid, 'SIGKILL')
    } catch {
      // gone
    }
  }
  live.clear()
}

let cleanupInstalled = false

/** Kills all children on exit, Ctrl-C, SIGTERM, and uncaught errors. Call once. */
export function installCleanup(onSignal: () => void = () => {}): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.on('exit', killAllNow)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping everything\n`)
      killAllNow()
      onSignal()
      process.exit(130)
    })
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err.stack ?? String(err)}\n`)
    killAllNow()
    onSignal()
    process.exit(1)
  })
}

/** Runs a command to completion with a hard time bound; returns stdout, stderr, status. */
export function runBounded(
  argv: string[],
  timeoutMs: number,
  opts: { cwd?: string } = {},
): Promise<{ stdout: string; stderr: string; code: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    const proc = new Proc(argv[0], child)
    live.add(proc)
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString('utf8')
    })
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString('utf8')
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      signalGroup(proc, 'SIGKILL')
    }, timeoutMs)
    void proc.exited.then(() => {
      clearTimeout(timer)
      resolve({ stdout, stderr: stderr + (proc.output.includes('spawn failed') ? proc.output : ''), code: proc.exitCode, timedOut })
    })
  })
}

/** Runs a short command synchronously (setup only: openssl, nginx -v). */
export function runSync(argv: string[], timeoutMs = 60_000): { code: number | null; out: string } {
  const r = spawnSync(argv[0], argv.slice(1), { timeout: timeoutMs, encoding: 'utf8' })
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` }
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// ---- /proc accounting -------------------------------------------------------------------

let clockTicksPerSec = 0

function clockTicks(): number {
  if (clockTicksPerSec === 0) {
    try {
      clockTicksPerSec = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicksPerSec = 100
    }
  }
  return clockTicksPerSec
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** `pid` and all its descendants, found by walking parent pids in /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const f = statFields(Number(entry))
    if (f === null) continue
    const ppid = Number(f[1]) // field 4 of stat: ppid
    let list = children.get(ppid)
    if (list === undefined) children.set(ppid, (list = []))
    list.push(Number(entry))
  }
  const out: number[] = []
  const stack = [pid]
  while (stack.length > 0 && out.length < 10_000) {
    const p = stack.pop() as number
    out.push(p)
    for (const c of children.get(p) ?? []) stack.push(c)
  }
  return out
}

/**
 * CPU seconds (user + system, all threads) used so far by `pid` and its live descendants.
 * utime/stime in /proc/PID/stat already sum every thread of a process, so this covers
 * portico's worker threads as well as nginx's worker processes.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0
  for (const p of processTree(pid)) {
    const f = statFields(p)
    if (f === null) continue
    ticks += Number(f[11]) + Number(f[12]) // stat fields 14 (utime) and 15 (stime)
  }
  return ticks / clockTicks()
}

/** treeCpuSeconds split into user and system (kernel) seconds. */
export function treeCpuSplit(pid: number): { user: number; sys: number } {
  let user = 0
  let sys = 0
  for (const p of processTree(pid)) {
    const f = statFields(p)
    if (f === null) continue
    user += Number(f[11])
    sys += Number(f[12])
  }
  return { user: user / clockTicks(), sys: sys / clockTicks() }
}

/**
 * CPU seconds of the main thread of `pid` alone (/proc/PID/task/PID/stat): for portico, the
 * thread that accepts (accept = "main") and hands connections to the worker threads.
 */
export function mainThreadCpuSeconds(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / clockTicks()
  } catch {
    return 0
  }
}

/** Resident set size in bytes of `pid` and its descendants (VmRSS summed). */
export function treeRssBytes(pid: number): number {
  let kib = 0
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      if (m !== null) kib += Number(m[1])
    } catch {
      // exited between listing and reading
    }
  }
  return kib * 1024
}

/** Whole-machine busy CPU seconds from /proc/stat, to show how loaded the box was. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
  return busy / clockTicks()
}
