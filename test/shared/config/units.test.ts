// Duration, size and host:port syntax (src/shared/config/units.ts).

import t from 'tap'
import {
  MAX_DURATION_MS, UNLIMITED_BYTES, formatDuration, formatSize, isIPv6, parseDuration,
  parseHostPort, parseSize,
} from '../../../src/shared/config/units.ts'

function ok<T>(r: { ok: true; value: T } | { ok: false; error: string }): T | string {
  return r.ok ? r.value : `error: ${r.error}`
}

t.test('durations take ms, s, m and h', async (t) => {
  t.equal(ok(parseDuration('250ms')), 250)
  t.equal(ok(parseDuration('5s')), 5000)
  t.equal(ok(parseDuration('2m')), 120_000)
  t.equal(ok(parseDuration('1h')), 3_600_000)
  t.equal(ok(parseDuration('0s')), 0)
  t.equal(ok(parseDuration('0ms')), 0)
})

t.test('durations accept fractions that land on a whole millisecond', async (t) => {
  t.equal(ok(parseDuration('1.5s')), 1500)
  t.equal(ok(parseDuration('0.25m')), 15_000)
  t.match(ok(parseDuration('1.5ms')), /whole number of milliseconds/)
  t.match(ok(parseDuration('0.0001s')), /whole number of milliseconds/)
})

t.test('durations refuse numbers, missing or unknown units and odd spellings', async (t) => {
  for (const bad of [5000, 5, '5', '', 's', '5 s', ' 5s', '5s ', '5S', '5sec', '5d', '-5s', '+5s', '1e3ms', '.5s', '5.s', '1m30s', true, null, [5]]) {
    t.match(ok(parseDuration(bad)), /^error: expected a duration string such as "250ms", "5s", "2m" or "1h"$/, `refuses ${JSON.stringify(bad)}`)
  }
})

t.test('durations stop at what a timer can hold', async (t) => {
  t.equal(ok(parseDuration(`${MAX_DURATION_MS}ms`)), MAX_DURATION_MS)
  t.match(ok(parseDuration(`${MAX_DURATION_MS + 1}ms`)), /at most 2147483647ms/)
  t.match(ok(parseDuration('1000h')), /at most/)
  t.equal(ok(parseDuration('596h')), 596 * 3_600_000)
})

t.test('sizes are binary: 1KB = 1024 bytes, 1MB = 1024 * 1024', async (t) => {
  t.equal(ok(parseSize('100B', false)), 100)
  t.equal(ok(parseSize('512KB', false)), 512 * 1024)
  t.equal(ok(parseSize('10MB', false)), 10 * 1024 * 1024)
  t.equal(ok(parseSize('1GB', false)), 1024 ** 3)
  t.equal(ok(parseSize('1MiB', false)), 1024 * 1024)
  t.equal(ok(parseSize('2KiB', false)), 2048)
  t.equal(ok(parseSize('3GiB', false)), 3 * 1024 ** 3)
  t.equal(ok(parseSize('0B', false)), 0)
  t.equal(ok(parseSize('1.5KB', false)), 1536)
  t.match(ok(parseSize('0.1KB', false)), /whole number of bytes/)
})

t.test('sizes accept integers as bytes, not fractions or negatives', async (t) => {
  t.equal(ok(parseSize(0, false)), 0)
  t.equal(ok(parseSize(4096, false)), 4096)
  t.match(ok(parseSize(1.5, false)), /^error: expected a size/)
  t.match(ok(parseSize(-1, false)), /^error: expected a size/)
})

t.test('sizes refuse unknown units and spellings', async (t) => {
  for (const bad of ['10', '10mb', '10 MB', '10M', '10K', 'MB', '', '-1MB', '10TB', true, null, ['1MB']]) {
    t.match(ok(parseSize(bad, false)), /^error: expected a size such as "100B", "512KB", "10MB", "1GB" \(1KB = 1024 bytes\)/, `refuses ${JSON.stringify(bad)}`)
  }
})

t.test('"unlimited" is a size only where the caller allows it', async (t) => {
  t.equal(ok(parseSize('unlimited', true)), UNLIMITED_BYTES)
  t.equal(UNLIMITED_BYTES, Number.MAX_SAFE_INTEGER)
  t.match(ok(parseSize('unlimited', false)), /^error: expected a size/)
  t.match(ok(parseSize('nope', true)), /or "unlimited"$/)
  t.match(ok(parseSize('9000000GB', false)), /too large/)
})

t.test('durations and sizes print back in their shortest exact spelling', async (t) => {
  t.equal(formatDuration(0), '0ms')
  t.equal(formatDuration(1500), '1500ms')
  t.equal(formatDuration(2000), '2s')
  t.equal(formatDuration(120_000), '2m')
  t.equal(formatDuration(3_600_000), '1h')
  t.equal(formatSize(0), '0B')
  t.equal(formatSize(1536), '1536B')
  t.equal(formatSize(2048), '2KB')
  t.equal(formatSize(1024 * 1024), '1MB')
  t.equal(formatSize(1024 ** 3), '1GB')
  t.equal(formatSize(UNLIMITED_BYTES), 'unlimited')
  for (const s of ['250ms', '5s', '2m', '1h']) t.equal(formatDuration(ok(parseDuration(s)) as number), s)
})

t.test('host:port splits ipv4, names and bracketed ipv6', async (t) => {
  t.same(ok(parseHostPort('127.0.0.1:8080')), { host: '127.0.0.1', port: 8080 })
  t.same(ok(parseHostPort('0.0.0.0:1')), { host: '0.0.0.0', port: 1 })
  t.same(ok(parseHostPort('localhost:65535')), { host: 'localhost', port: 65535 })
  t.same(ok(parseHostPort('api.internal.example:80')), { host: 'api.internal.example', port: 80 })
  t.same(ok(parseHostPort('[::]:443')), { host: '::', port: 443 })
  t.same(ok(parseHostPort('[::1]:9001')), { host: '::1', port: 9001 })
  t.same(ok(parseHostPort('[2001:db8::10]:8080')), { host: '2001:db8::10', port: 8080 })
})

t.test('host:port refuses a missing port, host or bracket, and ports out of range', async (t) => {
  t.match(ok(parseHostPort('127.0.0.1')), /missing port/)
  t.match(ok(parseHostPort('127.0.0.1:')), /missing port/)
  t.match(ok(parseHostPort('[::1]')), /missing port/)
  t.match(ok(parseHostPort('[::1]:')), /missing port/)
  t.match(ok(parseHostPort(':8080')), /missing host/)
  t.match(ok(parseHostPort('::1:8080')), /ipv6 address needs brackets/)
  t.match(ok(parseHostPort('[::1:8080')), /missing "\]"/)
  t.match(ok(parseHostPort('[nothex]:80')), /not an ipv6 address/)
  t.match(ok(parseHostPort('127.0.0.1:0')), /port 0 is out of range, expected 1..65535/)
  t.match(ok(parseHostPort('127.0.0.1:65536')), /port 65536 is out of range/)
  t.match(ok(parseHostPort('127.0.0.1:http')), /port "http" is not a number/)
  t.match(ok(parseHostPort('127.0.0.1:-1')), /not a number/)
  t.match(ok(parseHostPort('bad host:80')), /not a host name or ip address/)
  t.match(ok(parseHostPort('http://a:80')), /not a host name|needs brackets/)
  t.match(ok(parseHostPort(8080)), /expected "host:port"/)
})

t.test('isIPv6 takes addresses, not names or garbage', async (t) => {
  t.ok(isIPv6('::'))
  t.ok(isIPv6('::ffff:1.2.3.4'))
  t.notOk(isIPv6('1.2.3.4'))
  t.notOk(isIPv6('example.com'))
  t.notOk(isIPv6(':::'))
  t.notOk(isIPv6('1::2::3'))
})
