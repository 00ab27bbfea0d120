// TOML text → plain object (the `toml` package) plus a locator that knows the line of every key.
// Main thread only (config load and reload); no I/O here, load.ts reads the file.
//
// The `toml` package gives values but no positions, so `buildLocator` scans the source once more
// with a small structural scanner: it follows [table] and [[array-of-tables]] headers (counting
// the occurrences of each array, per parent element), dotted and quoted keys, inline tables and
// arrays (also when they span lines), strings of all four kinds and comments. It does not check
// the syntax; it runs after the `toml` parser accepted the text.

import toml from 'toml'
import type { ConfigProblem } from './types.ts'

/** Maps a key path ("upstreams[0].servers[2].weight") to its 1-based line; 0 when unknown. */
export type Locate = (path: string) => number

export type ParseResult =
  | { ok: true; raw: Record<string, unknown>; locate: Locate }
  | { ok: false; problem: ConfigProblem }

const BARE_KEY_RE = /^[A-Za-z0-9_-]+$/

/**
 * Appends a key to a key path the way problems print it: `parent.key`, with the key quoted
 * (`routes[0].headers."x.y"`) when it is not a bare TOML key. validate.ts and the locator both
 * build paths with this, so their paths agree.
 */
export function keyPath(parent: string, key: string): string {
  const k = BARE_KEY_RE.test(key) ? key : JSON.stringify(key)
  return parent === '' ? k : `${parent}.${k}`
}

/** Appends an array index: `upstreams` → `upstreams[0]`. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`
}

/**
 * Parses TOML text. A syntax error becomes one problem carrying the line the parser reported
 * (path ""). The text must be a string already (load.ts strips a UTF-8 BOM).
 */
export function parseToml(source: string): ParseResult {
  let raw: Record<string, unknown>
  try {
    raw = toml.parse(source) as Record<string, unknown>
  } catch (err) {
    return { ok: false, problem: tomlErrorProblem(err) }
  }
  return { ok: true, raw, locate: buildLocator(source) }
}

interface PegLocation {
  start: { line: number; column: number }
}

// The package throws two shapes: peggy's SyntaxError with `location` and `found`, and its
// compiler's Error with `line` and `column` (e.g. "Cannot redefine existing key 'a'.").
function tomlErrorProblem(err: unknown): ConfigProblem {
  const e = err as { message?: unknown; line?: unknown; column?: unknown; location?: PegLocation; found?: unknown }
  if (e !== null && typeof e === 'object' && e.location !== undefined && 'found' in e) {
    const found = e.found
    const what = typeof found !== 'string' ? 'end of file'
      : found === '\n' || found === '\r' ? 'end of line'
      : JSON.stringify(found)
    return {
      path: '',
      line: e.location.start.line,
      message: `invalid toml at column ${e.location.start.column}: unexpected ${what}`,
    }
  }
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const line = typeof e?.line === 'number' ? e.line : 0
  const column = typeof e?.column === 'number' ? ` at column ${e.column}` : ''
  return { path: '', line, message: `invalid toml${column}: ${lowerFirst(message.replace(/\.$/, ''))}` }
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0].toLowerCase() + s.slice(1) : s
}

/**
 * Builds the key-path → line map of a TOML text. Lookups of paths that were never written (a
 * missing key, a default) fall back to the nearest written ancestor: a missing
 * `upstreams[1].name` reports the line of that `[[upstreams]]` header; unknown → 0.
 */
export function buildLocator(source: string): Locate {
  const scanner = new LineScanner(source)
  scanner.run()
  const lines = scanner.lines
  return (path: string): number => {
    let p = path
    for (;;) {
      const line = lines.get(p)
      if (line !== undefined) return line
      const parent = parentPath(p)
      if (parent === null) return 0
      p = parent
    }
  }
}

// "a.b[2]" → "a.b"; "a.b" → "a"; "a" → null. Quoted segments may contain "." or "[": skip them.
function parentPath(path: string): string | null {
  let cut = -1
  let inQuote = false
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (inQuote) {
      if (c === 0x5c) i++ // backslash: skip the escaped char
      else if (c === 0x22) inQuote = false
    } else if (c === 0x22) inQuote = true
    else if (c === 0x2e || c === 0x5b) cut = i // "." or "["
  }
  return cut <= 0 ? null : path.slice(0, cut)
}

const CH_NL = 0x0a
const CH_CR = 0x0d
const CH_SPACE = 0x20
const CH_TAB = 0x09
const CH_HASH = 0x23
const CH_QUOTE = 0x22
const CH_APOS = 0x27
const CH_LBRACKET = 0x5b
const CH_RBRACKET = 0x5d
const CH_LBRACE = 0x7b
const CH_RBRACE = 0x7d
const CH_COMMA = 0x2c
const CH_DOT = 0x2e
const CH_EQ = 0x3d
const CH_BACKSLASH = 0x5c

function isBareKeyChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d
}

class LineScanner {
  src: string
  pos: number
  line: number
  /** Key path → 1-based line of its first appearance. */
  lines: Map<string, number>
  /** Array-of-tables path ("listeners", "listeners[1].tls.certs") → elements seen so far. */
  arrays: Map<string, number>

  constructor(src: string) {
    this.src = src
    this.pos = 0
    this.line = 1
    this.lines = new Map()
    this.arrays = new Map()
  }

  run(): void {
    let table = ''
    const src = this.src
    while (this.pos < src.length) {
      const start = this.pos
      this.skipBlank()
      if (this.pos >= src.length) break
      const c = src.charCodeAt(this.pos)
      if (c === CH_LBRACKET) {
        const isArray = src.charCodeAt(this.pos + 1) === CH_LBRACKET
        this.pos += isArray ? 2 : 1
        const keys = this.readKey()
        table = this.resolveHeader(keys, isArray)
        this.remember(table, this.line)
      } else {
        this.keyValue(table)
      }
      this.skipRestOfLine()
      if (this.pos === start) this.pos++ // never loop without progress, whatever the input
    }
  }

  // A header's path: every prefix that names an array of tables means its last element, and
  // a [[header]] appends a new element to its own array.
  resolveHeader(keys: string[], isArray: boolean): string {
    let path = ''
    for (let i = 0; i < keys.length; i++) {
      path = keyPath(path, keys[i])
      const count = this.arrays.get(path)
      if (isArray && i === keys.length - 1) {
        this.remember(path, this.line)
        this.arrays.set(path, (count ?? 0) + 1)
        path = indexPath(path, count ?? 0)
      } else if (count !== undefined) {
        path = indexPath(path, count - 1)
      }
      if (i < keys.length - 1) this.remember(path, this.line)
    }
    return path
  }

  // key = value, at top level or inside an inline table; the dotted key's prefixes are
  // remembered too (they create implicit tables).
  keyValue(table: string): void {
    const line = this.line
    const keys = this.readKey()
    if (keys.length === 0) return
    let path = table
    for (const k of keys) {
      path = keyPath(path, k)
      this.remember(path, line)
    }
    this.skipSpaces()
    if (this.src.charCodeAt(this.pos) !== CH_EQ) return
    this.pos++
    this.skipSpaces()
    this.value(path)
  }

  value(path: string): void {
    const src = this.src
    const c = src.charCodeAt(this.pos)
    if (c === CH_QUOTE || c === CH_APOS) {
      this.readString()
    } else if (c === CH_LBRACKET) {
      this.pos++
      let index = 0
      for (;;) {
        this.skipBlank()
        if (this.pos >= src.length) return
        const d = src.charCodeAt(this.pos)
        if (d === CH_RBRACKET) { this.pos++; return }
        if (d === CH_COMMA) { this.pos++; continue }
        const before = this.pos
        const element = indexPath(path, index++)
        this.remember(element, this.line)
        this.value(element)
        if (this.pos === before) this.pos++
      }
    } else if (c === CH_LBRACE) {
      this.pos++
      for (;;) {
        this.skipBlank() // TOML 1.1 allows newlines in inline tables
        if (this.pos >= src.length) return
        const d = src.charCodeAt(this.pos)
        if (d === CH_RBRACE) { this.pos++; return }
        if (d === CH_COMMA) { this.pos++; continue }
        const before = this.pos
        this.keyValue(path)
        if (this.pos === before) this.pos++
      }
    } else {
      // number, boolean, date-time (may contain a space): up to a delimiter
      while (this.pos < src.length) {
        const d = src.charCodeAt(this.pos)
        if (d === CH_COMMA || d === CH_RBRACKET || d === CH_RBRACE || d === CH_HASH || d === CH_NL || d === CH_CR) break
        this.pos++
      }
    }
  }

  // Dotted key: bare, "basic" or 'literal' segments separated by dots; stops before "=" or "]".
  readKey(): string[] {
    const src = this.src
    const keys: string[] = []
    for (;;) {
      this.skipSpaces()
      const c = src.charCodeAt(this.pos)
      if (c === CH_QUOTE || c === CH_APOS) {
        keys.push(this.readString())
      } else {
        const start = this.pos
        while (this.pos < src.length && isBareKeyChar(src.charCodeAt(this.pos))) this.pos++
        if (this.pos === start) return keys
        keys.push(src.slice(start, this.pos))
      }
      this.skipSpaces()
      if (src.charCodeAt(this.pos) !== CH_DOT) return keys
      this.pos++
    }
  }

  // Any of the four string kinds; returns the content (escapes decoded for one-line basic strings,
  // which is all a key can be).
  readString(): string {
    const src = this.src
    const quote = src.charCodeAt(this.pos)
    const isMulti = src.charCodeAt(this.pos + 1) === quote && src.charCodeAt(this.pos + 2) === quote
    if (isMulti) {
      this.pos += 3
      while (this.pos < src.length) {
        const c = src.charCodeAt(this.pos)
        if (c === CH_NL) this.line++
        if (c === CH_BACKSLASH && quote === CH_QUOTE) {
          if (src.charCodeAt(this.pos + 1) === CH_NL) this.line++
          this.pos += 2
          continue
        }
        if (c === quote && src.charCodeAt(this.pos + 1) === quote && src.charCodeAt(this.pos + 2) === quote) {
          this.pos += 3
          // up to two more quotes belong to the content ('''a''''' ends with two quotes)
          if (src.charCodeAt(this.pos) === quote) this.pos++
          if (src.charCodeAt(this.pos) === quote) this.pos++
          return ''
        }
        this.pos++
      }
      return ''
    }
    const start = this.pos
    this.pos++
    while (this.pos < src.length) {
      const c = src.charCodeAt(this.pos)
      if (c === CH_NL) break // unterminated; the toml parser would have refused it
      if (c === CH_BACKSLASH && quote === CH_QUOTE) { this.pos += 2; continue }
      this.pos++
      if (c === quote) break
    }
    const text = src.slice(start, this.pos)
    if (quote === CH_APOS) return text.slice(1, -1)
    try {
      return JSON.parse(text) as string
    } catch {
      return text.slice(1, -1) // a TOML-only escape (\e, \xHH, \UXXXXXXXX): close enough for a locator
    }
  }

  skipSpaces(): void {
    const src = this.src
    while (this.pos < src.length) {
      const c = src.charCodeAt(this.pos)
      if (c !== CH_SPACE && c !== CH_TAB) return
      this.pos++
    }
  }

  // Whitespace, newlines and comments.
  skipBlank(): void {
    const src = this.src
    while (this.pos < src.length) {
      const c = src.charCodeAt(this.pos)
      if (c === CH_NL) { this.line++; this.pos++ }
      else if (c === CH_SPACE || c === CH_TAB || c === CH_CR) this.pos++
      else if (c === CH_HASH) { while (this.pos < src.length && src.charCodeAt(this.pos) !== CH_NL) this.pos++ }
      else return
    }
  }

  // After a statement: the closing "]"/"]]" of a header, a comment, the newline.
  skipRestOfLine(): void {
    const src = this.src
    while (this.pos < src.length && src.charCodeAt(this.pos) !== CH_NL) this.pos++
  }

  remember(path: string, line: number): void {
    if (!this.lines.has(path)) this.lines.set(path, line)
  }
}
