// Duration, size and address syntax of the config file: the only place that turns "250ms",
// "10MB" and "[::1]:8080" into numbers. Pure functions, no I/O; used by validate.ts on the main
// thread (and by anything else that must read the same syntax, e.g. runtime API arguments).
//
// Every parser returns either a value or an error string (lowercase, says what was expected),
// never throws, so validate.ts can collect all problems of a file at once.

/** The longest duration we accept: setTimeout's limit (2^31 - 1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2147483647

/** What `maxBodyBytes` holds when the config says "unlimited" (or leaves max_body out). */
export const UNLIMITED_BYTES = Number.MAX_SAFE_INTEGER

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

// Binary units: 1KB = 1024 bytes, 1MB = 1024 * 1024, as nginx and HAProxy read "k" and "m".
// The IEC spellings are accepted too so nobody has to guess.
const SIZE_UNIT_BYTES: Record<string, number> = {
  B: 1,
  KB: 1024, KiB: 1024,
  MB: 1024 * 1024, MiB: 1024 * 1024,
  GB: 1024 * 1024 * 1024, GiB: 1024 * 1024 * 1024,
}

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/
const SIZE_RE = /^(\d+(?:\.\d+)?)(B|KB|KiB|MB|MiB|GB|GiB)$/

/** How problems describe a valid duration. */
export const DURATION_FORMAT = 'a duration string such as "250ms", "5s", "2m" or "1h"'
/** How problems describe a valid size. */
export const SIZE_FORMAT = 'a size such as "100B", "512KB", "10MB", "1GB" (1KB = 1024 bytes) or an integer number of bytes'

/** A parsed value, or why the text is not one (a lowercase message saying what was expected). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

function fail<T>(error: string): Parsed<T> {
  return { ok: false, error }
}

/**
 * "250ms" | "5s" | "2m" | "1h" → milliseconds. Strings only: a bare number would leave the unit
 * to guesswork. Fractions are fine when they land on a whole millisecond ("1.5s" → 1500).
 * Result is 0..MAX_DURATION_MS; callers check their own lower bound.
 */
export function parseDuration(value: unknown): Parsed<number> {
  if (typeof value !== 'string') return fail(`expected ${DURATION_FORMAT}`)
  const m = DURATION_RE.exec(value)
  if (m === null) return fail(`expected ${DURATION_FORMAT}`)
  const ms = Number(m[1]) * DURATION_UNIT_MS[m[2]]
  if (!Number.isInteger(ms)) return fail('duration must be a whole number of milliseconds')
  if (ms > MAX_DURATION_MS) return fail(`duration must be at most ${MAX_DURATION_MS}ms (about 24 days)`)
  return { ok: true, value: ms }
}

/**
 * "100B" | "512KB" | "10MB" | "1GB" (1024-based; KiB/MiB/GiB accepted) or a non-negative
 * integer number of bytes → bytes. With `allowUnlimited`, "unlimited" → UNLIMITED_BYTES.
 */
export function parseSize(value: unknown, allowUnlimited: boolean): Parsed<number> {
  const format = allowUnlimited ? `${SIZE_FORMAT}, or "unlimited"` : SIZE_FORMAT
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) return fail(`expected ${format}`)
    return { ok: true, value }
  }
  if (typeof value !== 'string') return fail(`expected ${format}`)
  if (value === 'unlimited' && allowUnlimited) return { ok: true, value: UNLIMITED_BYTES }
  const m = SIZE_RE.exec(value)
  if (m === null) return fail(`expected ${format}`)
  const bytes = Number(m[1]) * SIZE_UNIT_BYTES[m[2]]
  if (!Number.isInteger(bytes)) return fail('size must be a whole number of bytes')
  if (bytes > UNLIMITED_BYTES) return fail('size is too large')
  return { ok: true, value: bytes }
}

/** Milliseconds back to the shortest exact config spelling: 1500 → "1500ms", 120000 → "2m". */
export function formatDuration(ms: number): string {
  if (ms !== 0) {
    if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
    if (ms % 60_000 === 0) return `${ms / 60_000}m`
    if (ms % 1000 === 0) return `${ms / 1000}s`
  }
  return `${ms}ms`
}

/** Bytes back to the shortest exact config spelling: 1048576 → "1MB", UNLIMITED_BYTES → "unlimited". */
export function formatSize(bytes: number): string {
  if (bytes === UNLIMITED_BYTES) return 'unlimited'
  if (bytes !== 0) {
    if (bytes % SIZE_UNIT_BYTES.GB === 0) return `${bytes / SIZE_UNIT_BYTES.GB}GB`
    if (bytes % SIZE_UNIT_BYTES.MB === 0) return `${bytes / SIZE_UNIT_BYTES.MB}MB`
    if (bytes % SIZE_UNIT_BYTES.KB === 0) return `${bytes / SIZE_UNIT_BYTES.KB}KB`
  }
  return `${bytes}B`
}

export interface HostPort {
  /** Without brackets: "127.0.0.1", "::1", "localhost". */
  host: string
  port: number
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
// A DNS name: labels of letters, digits and inner hyphens (underscores tolerated, as resolvers do).
const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/

/** True for a dotted-quad IPv4 address. */
export function isIPv4(host: string): boolean {
  return IPV4_RE.test(host)
}

/** True for an IPv6 address (no brackets). Uses URL's parser rather than another regex. */
export function isIPv6(host: string): boolean {
  if (!host.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(host)) return false
  try {
    return new URL(`http://[${host}]/`).hostname.length > 2
  } catch {
    return false
  }
}

/** True for a DNS host name or IPv4 address (IPv6 goes through isIPv6). */
export function isHostname(host: string): boolean {
  return HOSTNAME_RE.test(host)
}

/**
 * "host:port" or "[v6]:port" → { host, port }. The port is required and must be 1..65535;
 * an IPv6 address must be bracketed ("::1:80" is ambiguous).
 */
export function parseHostPort(value: unknown): Parsed<HostPort> {
  const expected = 'expected "host:port" or "[ipv6]:port"'
  if (typeof value !== 'string') return fail(expected)
  let host: string
  let portText: string
  if (value.startsWith('[')) {
    const close = value.indexOf(']')
    if (close < 0) return fail(`missing "]" after the ipv6 address, ${expected}`)
    host = value.slice(1, close)
    if (!isIPv6(host)) return fail(`"${host}" is not an ipv6 address, ${expected}`)
    if (value[close + 1] !== ':') return fail(`missing port, ${expected}`)
    portText = value.slice(close + 2)
  } else {
    const colon = value.lastIndexOf(':')
    if (colon < 0) return fail(`missing port, ${expected}`)
    host = value.slice(0, colon)
    portText = value.slice(colon + 1)
    if (host.includes(':')) return fail(`an ipv6 address needs brackets, ${expected}`)
    if (host === '') return fail(`missing host, ${expected} (use 0.0.0.0 for every ipv4 address)`)
    if (!isIPv4(host) && !isHostname(host)) return fail(`"${host}" is not a host name or ip address, ${expected}`)
  }
  if (portText === '') return fail(`missing port, ${expected}`)
  if (!/^\d{1,5}$/.test(portText)) return fail(`port "${portText}" is not a number, ${expected}`)
  const port = Number(portText)
  if (port < 1 || port > 65535) return fail(`port ${port} is out of range, expected 1..65535`)
  return { ok: true, value: { host, port } }
}
