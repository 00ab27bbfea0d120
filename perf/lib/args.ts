// Command-line options of `node perf/bench.ts` (npm run bench). Runs on the harness main thread.

export const ALL_SCENARIOS = ['ka', 'newconn', 'download', 'upload', 'tls', 'h2', 'idle'] as const
export type ScenarioGroup = (typeof ALL_SCENARIOS)[number]

export const ALL_TARGETS = ['portico', 'haproxy', 'nginx'] as const
export type TargetKind = (typeof ALL_TARGETS)[number]

/** portico's listener `accept` modes (README "Accepting connections"). */
export const ALL_ACCEPT = ['main', 'workers'] as const
export type AcceptMode = (typeof ALL_ACCEPT)[number]

export interface BenchOptions {
  isQuick: boolean
  /** Measured length of one load run. */
  durationMs: number
  /** Unmeasured run before the first measured one of each scenario × target (JIT, pools). */
  warmupMs: number
  /** Each round runs every scenario on every target once, targets interleaved. */
  rounds: number
  targets: TargetKind[]
  scenarios: ScenarioGroup[]
  /** portico worker counts; one portico line per entry. */
  porticoWorkers: number[]
  /** portico `accept` modes; one portico line per workers × accept pair. */
  porticoAccept: AcceptMode[]
  /**
   * Pin with taskset: a proxy doing its work on N threads gets CPUs 0..N-1; the load generator
   * and the upstream get the CPUs left over, or the last CPU when none is left (see README).
   */
  isPin: boolean
  /** Idle keep-alive connections opened per proxy in the `idle` scenario. */
  idleConns: number
  /** Where the raw JSON goes. */
  jsonOut: string
  /** Keep the temp dir (configs, logs) for inspection. */
  isKeep: boolean
}

export const USAGE = `usage: node perf/bench.ts [options]     (npm run bench -- [options])
  --quick                  about one minute: 2s runs, 1 round, one 1s warm-up per target, 2,000 idle conns
  --duration 10s           length of each measured run (default 10s; 2s with --quick)
  --rounds N               repeat every scenario N times, targets interleaved (default 3; 1 quick)
  --warmup 2s              unmeasured run before each scenario's first measured one (default 2s; 0 = none)
  --targets LIST           portico,haproxy,nginx (default: all three)
  --scenarios LIST         ka,newconn,download,upload,tls,h2,idle (default: all)
  --workers LIST           portico worker threads, e.g. 1 or 1,2 (default 1)
  --accept LIST            portico listener accept modes, main,workers (default main)
  --pin                    taskset: proxy on CPUs 0..N-1 (N = its threads), load + upstream on the rest
  --idle-conns N           idle keep-alive connections per proxy (default 10000)
  --json FILE              raw results (default /tmp/portico-bench/latest.json)
  --keep                   keep the temp dir with configs and logs
`

/** "10s", "500ms", "2m", or a bare number of seconds → milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (m === null) throw new Error(`duration ${JSON.stringify(text)} is not valid: expected e.g. 10s, 500ms, 2m`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000)
}

function list<T extends string>(text: string, allowed: readonly T[], what: string): T[] {
  const out: T[] = []
  for (const word of text.split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    if (!(allowed as readonly string[]).includes(word)) {
      throw new Error(`${what} ${JSON.stringify(word)} is unknown: expected one of ${allowed.join(', ')}`)
    }
    if (!out.includes(word as T)) out.push(word as T)
  }
  if (out.length === 0) throw new Error(`${what} list is empty: expected one of ${allowed.join(', ')}`)
  return out
}

export function parseArgs(argv: string[]): BenchOptions | 'help' {
  const isQuick = argv.includes('--quick')
  const opts: BenchOptions = {
    isQuick,
    durationMs: isQuick ? 2000 : 10_000,
    warmupMs: isQuick ? 1000 : 2000,
    rounds: isQuick ? 1 : 3,
    targets: [...ALL_TARGETS],
    scenarios: [...ALL_SCENARIOS],
    porticoWorkers: [1],
    porticoAccept: ['main'],
    isPin: false,
    idleConns: isQuick ? 2000 : 10_000,
    jsonOut: '/tmp/portico-bench/latest.json',
    isKeep: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = (): string => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    switch (arg) {
      case '--quick':
        break
      case '--help':
      case '-h':
        return 'help'
      case '--duration':
        opts.durationMs = parseDurationMs(value())
        break
      case '--warmup':
        opts.warmupMs = parseDurationMs(value())
        break
      case '--rounds': {
        const v = value()
        opts.rounds = Number(v)
        if (!Number.isInteger(opts.rounds) || opts.rounds < 1 || opts.rounds > 50) throw new Error(`--rounds ${v}: expected 1..50`)
        break
      }
      case '--targets':
        opts.targets = list(value(), ALL_TARGETS, 'target')
        break
      case '--scenarios':
        opts.scenarios = list(value(), ALL_SCENARIOS, 'scenario')
        break
      case '--workers': {
        const v = value()
        opts.porticoWorkers = [...new Set(v.split(',').map(Number))]
        if (opts.porticoWorkers.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error(`--workers ${v}: expected numbers 1..64, e.g. 1,2`)
        break
      }
      case '--accept':
        opts.porticoAccept = list(value(), ALL_ACCEPT, 'accept mode')
        break
      case '--pin':
        opts.isPin = true
        break
      case '--idle-conns': {
        const v = value()
        opts.idleConns = Number(v)
        if (!Number.isInteger(opts.idleConns) || opts.idleConns < 1 || opts.idleConns > 15_000) throw new Error(`--idle-conns ${v}: expected 1..15000`)
        break
      }
      case '--json':
        opts.jsonOut = value()
        break
      case '--keep':
        opts.isKeep = true
        break
      default:
        throw new Error(`unknown option ${JSON.stringify(arg)}\n${USAGE}`)
    }
  }
  if (opts.durationMs < 500 || opts.durationMs > 600_000) throw new Error(`--duration ${opts.durationMs}ms: expected 500ms..10m`)
  return opts
}

/** `--name value` from argv for the single-purpose tools (profile.ts, h2-floor.ts), or `fallback`. */
export function flagValue(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback
}
