// The Runtime API verb table, `help` generated from it, HAProxy's "Unknown command" suggestions,
// word splitting, and the dispatcher that enforces levels. Each verb is implemented by the module
// that owns what it touches (show-stat.ts, show-info.ts, servers-state.ts, server-admin.ts); this
// file only lists them. Main thread only.

import {
  err, info, LEVEL_NAMES, Level, OK, PERMISSION_DENIED, raw, SeverityOutput,
} from './context.ts'
import type { Reply, Session } from './context.ts'
import { SCHEMA_JSON } from './fields.ts'
import {
  clearCounters, disableFrontend, disableHealth, disableServer, enableFrontend, enableHealth, enableServer,
  getWeight, setMaxconnServer, setServer, setWeight,
} from './server-admin.ts'
import { showBackend, showServersState } from './servers-state.ts'
import { showInfo } from './show-info.ts'
import { showStat } from './show-stat.ts'

/**
 * One Runtime API command. `words` are matched exactly (case-sensitive) against the first words of
 * the request; the rest are its arguments. A session below `level` gets "Permission denied" before
 * the verb sees its arguments, as HAProxy's cli_has_level does first thing in each parser.
 */
export interface Verb {
  words: readonly string[]
  /** Help line left part, e.g. 'set weight <bk>/<srv>  (DEPRECATED)'; null = hidden (help/prompt/quit). */
  usage: string | null
  description: string
  level: Level
  run: (session: Session, args: readonly string[]) => Reply | Promise<Reply>
}

/** HAProxy's CLI_PREFIX_KW_NB: keywords have at most this many words. */
const PREFIX_WORDS = 5
/** HAProxy's MAX_CLI_ARGS. */
const MAX_ARGS = 64
/** HAProxy's CLI_MAX_MATCHES: suggestions after an unknown command. */
const MAX_MATCHES = 5

const HELP_TRAILER =
  '  help [<command>]                        : list matching or all commands\n' +
  '  prompt                                  : toggle interactive mode with prompt\n' +
  '  quit                                    : disconnect\n'

/** The command table. Extensions (not in HAProxy): `show workers`, `reload`. */
export const VERBS: readonly Verb[] = [
  // help, prompt and quit act on the session itself; server.ts handles prompt and quit, and their
  // help lines are the fixed trailer.
  { words: ['help'], usage: null, description: '', level: Level.User, run: (_s, args) => usage(args, true) },
  { words: ['prompt'], usage: null, description: '', level: Level.User, run: togglePrompt },
  { words: ['quit'], usage: null, description: '', level: Level.User, run: quit },
  { words: ['operator'], usage: 'operator', description: 'lower the level of the current CLI session to operator', level: Level.User, run: setLevel },
  { words: ['user'], usage: 'user', description: 'lower the level of the current CLI session to user', level: Level.User, run: setLevel },
  { words: ['show', 'cli', 'level'], usage: 'show cli level', description: 'display the level of the current CLI session', level: Level.User, run: showCliLevel },
  { words: ['set', 'timeout'], usage: 'set timeout [cli] <delay>', description: 'change a timeout setting', level: Level.User, run: setTimeoutCli },
  { words: ['set', 'severity-output'], usage: 'set severity-output [none|number|string]', description: 'set presence of severity level in feedback information', level: Level.User, run: setSeverityOutput },
  { words: ['show', 'info'], usage: 'show info [desc|json|typed|float]*', description: 'report information about the running process', level: Level.User, run: showInfo },
  { words: ['show', 'stat'], usage: 'show stat [desc|json|no-maint|typed|up]*', description: 'report counters for each proxy and server', level: Level.User, run: showStat },
  { words: ['show', 'schema', 'json'], usage: 'show schema json', description: 'report schema used for stats', level: Level.User, run: () => raw(SCHEMA_JSON + '\n') },
  { words: ['show', 'backend'], usage: 'show backend', description: 'list backends in the current running config', level: Level.User, run: showBackend },
  { words: ['show', 'servers', 'state'], usage: 'show servers state [<backend>]', description: 'dump volatile server information (all or for a single backend)', level: Level.User, run: showServersState },
  { words: ['show', 'version'], usage: 'show version', description: 'show version of the current process', level: Level.User, run: (s) => info(s.ctx.version) },
  { words: ['show', 'workers'], usage: 'show workers', description: 'list worker threads: thread id, slot, generation, connections (portico)', level: Level.User, run: showWorkers },
  { words: ['get', 'weight'], usage: 'get weight <bk>/<srv>', description: "report a server's current weight", level: Level.User, run: getWeight },
  { words: ['clear', 'counters'], usage: 'clear counters [all]', description: 'clear max statistics counters (or all counters)', level: Level.Operator, run: clearCounters },
  { words: ['set', 'weight'], usage: 'set weight <bk>/<srv>  (DEPRECATED)', description: "change a server's weight (use 'set server' instead)", level: Level.Admin, run: setWeight },
  { words: ['set', 'server'], usage: 'set server <bk>/<srv> [opts]', description: "change a server's state, health or weight", level: Level.Admin, run: setServer },
  { words: ['set', 'maxconn', 'server'], usage: 'set maxconn server <bk>/<srv>', description: "change a server's maxconn setting", level: Level.Admin, run: setMaxconnServer },
  { words: ['disable', 'server'], usage: 'disable server (DEPRECATED)', description: "disable a server for maintenance (use 'set server' instead)", level: Level.Admin, run: disableServer },
  { words: ['enable', 'server'], usage: 'enable server  (DEPRECATED)', description: "enable a disabled server (use 'set server' instead)", level: Level.Admin, run: enableServer },
  { words: ['disable', 'health'], usage: 'disable health', description: 'disable health checks', level: Level.Admin, run: disableHealth },
  { words: ['enable', 'health'], usage: 'enable health', description: 'enable health checks', level: Level.Admin, run: enableHealth },
  { words: ['disable', 'frontend'], usage: 'disable frontend <frontend>', description: 'temporarily disable specific frontend', level: Level.Admin, run: disableFrontend },
  { words: ['enable', 'frontend'], usage: 'enable frontend <frontend>', description: 're-enable specific frontend', level: Level.Admin, run: enableFrontend },
  { words: ['reload'], usage: 'reload', description: 'reload the configuration file into a new generation (portico)', level: Level.Admin, run: reload },
]

/** A help line: two spaces, usage padded to 40 columns, ': ', description (HAProxy's "%-40s: %s"). */
export function helpLine(v: Verb): string {
  return `  ${(v.usage ?? '').padEnd(40)}: ${v.description}\n`
}

// ── words ───────────────────────────────────────────────────────────────────────────────────────

/**
 * HAProxy cli_parse_request's word splitting: runs of spaces/tabs separate words; a backslash
 * protects the next character (so `\ ` keeps a space inside a word); then `\\` becomes `\` and any
 * other backslash is dropped. At most 64 words.
 */
export function splitWords(line: string): string[] {
  const words: string[] = []
  let p = 0
  const n = line.length
  while (words.length < MAX_ARGS && p < n) {
    while (p < n && (line[p] === ' ' || line[p] === '\t')) p++
    if (p >= n) break
    const start = p
    while (p < n && line[p] !== ' ' && line[p] !== '\t') {
      if (line[p] === '\\') p++ // the escaped character is part of the word, whatever it is
      p++
    }
    if (p > n) p = n
    const rawWord = line.slice(start, p)
    let w = ''
    for (let k = 0; k < rawWord.length; k++) {
      if (rawWord[k] === '\\') {
        if (rawWord[k + 1] === '\\') k++
        else continue
      }
      w += rawWord[k]
    }
    words.push(w)
    p++
  }
  return words
}

/** HAProxy cli_find_kw: the first verb whose words all equal the request's first words. */
export function findVerb(args: readonly string[]): Verb | null {
  for (const v of VERBS) {
    let ok = true
    for (let k = 0; k < v.words.length; k++) {
      if (args[k] !== v.words[k]) {
        ok = false
        break
      }
    }
    if (ok) return v
  }
  return null
}

// ── help and "Unknown command" ──────────────────────────────────────────────────────────────────

/**
 * HAProxy update_word_fingerprint: counts of character-class transitions in a 32×32 table
 * (1..26 letters case-folded, 27 digits, 28 anything else and begin/end), plus row 0 marking
 * which classes occur at all.
 */
function fingerprint(fp: Uint8Array, word: string): void {
  let from = 28 // begin
  for (let k = 0; k < word.length; k++) {
    const c = word.charCodeAt(k)
    let to: number
    if (c >= 0x41 && c <= 0x5a) to = c - 0x41 + 1
    else if (c >= 0x61 && c <= 0x7a) to = c - 0x61 + 1
    else if (c >= 0x30 && c <= 0x39) to = 27
    else to = 28
    fp[to] = 1
    fp[32 * from + to]++
    from = to
  }
  fp[32 * from + 28]++ // end
}

function distance(a: Uint8Array, b: Uint8Array): number {
  let d = 0
  for (let k = 0; k < 1024; k++) d += Math.abs(a[k] - b[k])
  return d
}

/**
 * HAProxy 2.6 cli_gen_usage_msg. `isHelp`: the request starts with "help", which is dropped. Lists
 * the verbs matching the longest exactly-matched word prefix, or, when the next word matches
 * nothing, up to 5 fuzzy suggestions; sorted by help line; then the help/prompt/quit trailer.
 * `table` is a parameter so tests can replay HAProxy's own keyword list against the transcripts.
 */
export function usageMessage(table: readonly Verb[], request: readonly string[], isHelp: boolean): string {
  const args = isHelp ? request.slice(1) : request
  const arg = (k: number): string => args[k] ?? ''
  let length = 0
  for (const v of table) {
    for (let k = 0; k < PREFIX_WORDS && k < v.words.length; k++) {
      if (arg(k) === '' || v.words[k] !== arg(k)) break
      if (k + 1 > length) length = k + 1
    }
  }
  let out: string
  if (isHelp) out = 'The following commands are valid at this level:\n'
  else if (length === 0 && arg(0) === '') out = 'Unknown command. Please enter one of the following commands only:\n'
  else out = 'Unknown command, but maybe one of the following ones is a better match:\n'

  const prefixMatches = (v: Verb): boolean => {
    let k = 0
    for (; k < length; k++) {
      if (k >= v.words.length || arg(k) === '' || v.words[k] !== arg(k)) break
    }
    return k === length
  }
  const matches: Array<{ verb: Verb; dist: number }> = []
  if (arg(length) !== '') {
    const wordSig = new Uint8Array(1024)
    let reqLen = 0
    for (let k = length; k < PREFIX_WORDS && arg(k) !== ''; k++) {
      fingerprint(wordSig, arg(k))
      reqLen += arg(k).length
    }
    for (const v of table) {
      if (v.usage === null || !prefixMatches(v)) continue
      const listSig = new Uint8Array(1024)
      let totLen = reqLen
      for (let k = length; k < PREFIX_WORDS && k < v.words.length; k++) {
        fingerprint(listSig, v.words[k])
        totLen += v.words[k].length
      }
      const dist = distance(wordSig, listSig)
      // Keep the 5 closest, earlier entries winning ties, and only plausible ones.
      if (dist < Math.trunc((5 * totLen) / 2) && (matches.length < MAX_MATCHES || dist < matches[MAX_MATCHES - 1].dist)) {
        let at = matches.length
        while (at > 0 && matches[at - 1].dist > dist) at--
        matches.splice(at, 0, { verb: v, dist })
        if (matches.length > MAX_MATCHES) matches.pop()
      }
    }
  }
  const entries: Verb[] = []
  if (matches.length > 0) {
    for (const m of matches) {
      if (m.dist > Math.trunc((5 * matches[0].dist) / 2)) break // very unlikely candidates
      entries.push(m.verb)
    }
  } else {
    for (const v of table) if (v.usage !== null && prefixMatches(v)) entries.push(v)
  }
  const lines = entries.map(helpLine).sort()
  return out + lines.join('') + HELP_TRAILER
}

function usage(args: readonly string[], isHelp: boolean): Reply {
  return info(usageMessage(VERBS, args, isHelp).slice(0, -1))
}

// ── dispatch ────────────────────────────────────────────────────────────────────────────────────

/**
 * Runs one command (one `;`- or line-separated request, already without its terminator). Unknown
 * or empty requests get the usage text; a verb above the session's level gets "Permission denied".
 * `audit` is told about every permitted command that needs more than user level (the writes).
 */
export function runCommand(
  session: Session, line: string, audit?: (verbWords: readonly string[], line: string) => void,
): Reply | Promise<Reply> {
  const args = splitWords(line)
  const verb = findVerb(args)
  if (verb === null) return usage(args, false)
  if (session.level < verb.level) return PERMISSION_DENIED
  if (audit !== undefined && verb.level > Level.User) audit(verb.words, line)
  return verb.run(session, args)
}

function togglePrompt(session: Session): Reply {
  session.prompt = !session.prompt
  return OK
}

function quit(session: Session): Reply {
  session.quit = true
  return OK
}

/** `operator` / `user`: lower the session's level; asking to go up is denied. `-` suppresses the terminator. */
function setLevel(session: Session, args: readonly string[]): Reply {
  if (args[1] === '-') session.noLf = true
  const target = args[0] === 'operator' ? Level.Operator : Level.User
  if (session.level < target) return PERMISSION_DENIED
  session.level = target
  return OK
}

function showCliLevel(session: Session): Reply {
  return info(LEVEL_NAMES[session.level])
}

/** HAProxy parse_time_err with a default unit of seconds: "10", "10s", "1500ms", "2m", "1h", "1d". */
export function parseSeconds(s: string): number | null {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(s)
  if (m === null) return null
  const n = Number(m[1])
  const mult: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 }
  return n * mult[m[2] ?? 's']
}

/** `set timeout cli <delay>`: this session's idle timeout. */
function setTimeoutCli(session: Session, args: readonly string[]): Reply {
  if (args[2] !== 'cli') return err("'set timeout' only supports 'cli'.")
  const value = args[3] ?? ''
  if (value === '') return err('Expects an integer value.')
  const sec = parseSeconds(value)
  // HAProxy converts to whole seconds first: "500ms" is 0 and refused.
  if (sec === null || Math.floor(sec) < 1) return err('Invalid timeout value.')
  session.idleTimeoutMs = Math.floor(sec) * 1000
  return OK
}

function setSeverityOutput(session: Session, args: readonly string[]): Reply {
  const w = args[2] ?? ''
  if (w === 'none') session.severityOutput = SeverityOutput.None
  else if (w === 'number') session.severityOutput = SeverityOutput.Number
  else if (w === 'string') session.severityOutput = SeverityOutput.String
  else return err("one of 'none', 'number', 'string' is a required argument")
  return OK
}

/** `show workers` (portico): one line per worker thread. */
function showWorkers(session: Session): Reply {
  let out = '# thread_id slot generation connections\n'
  for (const w of session.ctx.workers()) out += `${w.threadId} ${w.slot} ${w.generation} ${w.connections}\n`
  return raw(out)
}

/** `reload` (portico): same path as SIGHUP; the reply is the outcome message. */
async function reload(session: Session): Promise<Reply> {
  session.ctx.log.info({ verb: 'reload' }, 'reload requested on the admin socket')
  try {
    const r = await session.ctx.reload()
    return r.ok ? info(r.message) : err(r.message)
  } catch (e) {
    return err(`reload failed: ${(e as Error).message}`)
  }
}
