// TLS termination end to end: portico's CLI with [listeners.tls], real TLS clients (tls.connect)
// and origins on loopback. SNI picks the certificate (exact, wildcard, default; unknown without a
// default fails the handshake), ALPN, TLS 1.2 and 1.3, min_version and ciphers, session
// resumption across worker threads and reloads, certificates re-read on SIGHUP, and bad clients
// (plain HTTP, silence) failing alone while the next client is served.

import t from 'tap'
import { copyFileSync } from 'node:fs'
import { freePort, rawExchange, request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin, Portico } from './harness.ts'
import { certDir, makeCert, makeExpiredCert } from '../fixtures/tls/certs.ts'
import type { CertFiles } from '../fixtures/tls/certs.ts'
import { tlsExchange } from '../fixtures/tls/client.ts'

const dir = certDir()
const certA = makeCert(dir, 'a', 'a.test')
const certWild = makeCert(dir, 'wild', '*.wild.test')
const certDefault = makeCert(dir, 'default', 'default.test')

interface CertEntry { files: CertFiles; names?: string[] }

function tlsConfig(origin: Origin, certs: CertEntry[], opts: {
  workers?: number; protocols?: string; tlsExtra?: string; timeouts?: string; metricsPort?: number
} = {}): string {
  return `
[global]
workers = ${opts.workers ?? 1}
[log]
access = "off"
${opts.timeouts !== undefined ? `[timeouts]\n${opts.timeouts}\n` : ''}
${opts.metricsPort !== undefined ? `[runtime]\nmetrics = "127.0.0.1:${opts.metricsPort}"\n` : ''}
[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"
protocols = ${opts.protocols ?? '["h2", "http/1.1"]'}
[listeners.tls]
${opts.tlsExtra ?? ''}
${certs.map((c) => `[[listeners.tls.certs]]\ncert = "${c.files.cert}"\nkey = "${c.files.key}"\n${c.names !== undefined ? `server_names = ${JSON.stringify(c.names)}\n` : ''}`).join('\n')}
[[routes]]
name = "all"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${origin.port}"
`
}

async function tlsErrors(metricsPort: number): Promise<number> {
  const r = await request(metricsPort, { path: '/metrics' })
  const line = r.text.split('\n').find((l) => l.startsWith('portico_listener_tls_errors_total{') && l.includes('listener="web"'))
  return line === undefined ? -1 : Number(line.split(' ').pop())
}

/** Wait until `check` holds, polling; bounded. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(50)
  }
  return check()
}

async function start(t: { teardown(fn: () => unknown): void }, toml: (o: Origin) => string): Promise<{ p: Portico; o: Origin }> {
  const o = await startOrigin('s1')
  const p = await startPortico(toml(o))
  t.teardown(async () => { await p.stop(); await o.close() })
  return { p, o }
}

t.test('SNI picks the certificate: exact name, one-label wildcard, default for the rest', async (t) => {
  const { p, o } = await start(t, (o) => tlsConfig(o, [
    { files: certA, names: ['a.test'] },
    { files: certWild, names: ['*.wild.test'] },
    { files: certDefault },
  ]))
  const cases: Array<[string | undefined, string]> = [
    ['a.test', 'a.test'],
    ['A.Test', 'a.test'],
    ['x.wild.test', '*.wild.test'],
    ['a.b.wild.test', 'default.test'],
    ['wild.test', 'default.test'],
    ['other.test', 'default.test'],
    [undefined, 'default.test'],
  ]
  for (const [servername, cn] of cases) {
    const r = await tlsExchange(p.port, { servername, path: '/sni' })
    t.equal(r.error, null, `${servername}: handshake`)
    t.equal(r.cn, cn, `${servername ?? '(no SNI)'} gets ${cn}`)
    t.equal(r.status, 200, `${servername}: request served`)
  }
  t.equal(o.requests.length, cases.length)
  t.equal(o.requests[0].headers['x-forwarded-proto'], 'https', 'X-Forwarded-Proto says https')
})

t.test('an unknown name with no default certificate fails the handshake; other clients are served', async (t) => {
  const metricsPort = await freePort()
  const { p } = await start(t, (o) => tlsConfig(o, [
    { files: certA, names: ['a.test'] },
    { files: certWild, names: ['*.wild.test'] },
  ], { metricsPort }))
  const bad = await tlsExchange(p.port, { servername: 'nope.test', path: '/' })
  t.not(bad.error, null, `unknown SNI refused (${bad.error})`)
  t.equal(bad.cn, null, 'no certificate was presented')
  const none = await tlsExchange(p.port, { path: '/' })
  t.not(none.error, null, `no SNI and no default refused (${none.error})`)
  const good = await tlsExchange(p.port, { servername: 'a.test', path: '/ok' })
  t.equal(good.error, null)
  t.equal(good.cn, 'a.test')
  t.equal(good.status, 200, 'the next good client is served')
  t.ok(await eventually(async () => (await tlsErrors(metricsPort)) >= 2), 'both failures counted as TLS errors')
})

t.test('ALPN negotiates h2 or http/1.1 from the listener protocols', async (t) => {
  const { p } = await start(t, (o) => tlsConfig(o, [{ files: certDefault }]))
  t.equal((await tlsExchange(p.port, { servername: 'x.test', ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2', 'h2 preferred')
  const h1 = await tlsExchange(p.port, { servername: 'x.test', ALPNProtocols: ['http/1.1'], path: '/alpn' })
  t.equal(h1.alpn, 'http/1.1')
  t.equal(h1.status, 200, 'HTTP/1.1 served after ALPN http/1.1')
  const none = await tlsExchange(p.port, { servername: 'x.test', path: '/no-alpn' })
  t.equal(none.alpn, false, 'no ALPN offered')
  t.equal(none.status, 200, 'a client without ALPN gets HTTP/1.1')
  const odd = await tlsExchange(p.port, { servername: 'x.test', ALPNProtocols: ['spdy/3'] })
  t.not(odd.error, null, `no common protocol: handshake refused (${odd.error})`)

  const o2 = await startOrigin('s2')
  const p2 = await startPortico(tlsConfig(o2, [{ files: certDefault }], { protocols: '["http/1.1"]' }))
  t.teardown(async () => { await p2.stop(); await o2.close() })
  const r = await tlsExchange(p2.port, { servername: 'x.test', ALPNProtocols: ['h2', 'http/1.1'], path: '/' })
  t.equal(r.alpn, 'http/1.1', 'a listener without h2 never negotiates it')
  t.equal(r.status, 200)
})

t.test('TLS 1.2-only and 1.3-only clients; min_version and ciphers are applied', async (t) => {
  const { p } = await start(t, (o) => tlsConfig(o, [{ files: certDefault }]))
  const v12 = await tlsExchange(p.port, { servername: 'x.test', maxVersion: 'TLSv1.2', path: '/v12' })
  t.equal(v12.protocol, 'TLSv1.2')
  t.equal(v12.status, 200)
  const v13 = await tlsExchange(p.port, { servername: 'x.test', minVersion: 'TLSv1.3', path: '/v13' })
  t.equal(v13.protocol, 'TLSv1.3')
  t.equal(v13.status, 200)

  const o2 = await startOrigin('s2')
  const p2 = await startPortico(tlsConfig(o2, [{ files: certDefault }], {
    tlsExtra: 'min_version = "TLSv1.3"',
  }))
  const o3 = await startOrigin('s3')
  const p3 = await startPortico(tlsConfig(o3, [{ files: certDefault }], {
    tlsExtra: 'ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"',
  }))
  t.teardown(async () => { await p2.stop(); await o2.close(); await p3.stop(); await o3.close() })
  const old = await tlsExchange(p2.port, { servername: 'x.test', maxVersion: 'TLSv1.2' })
  t.not(old.error, null, `min_version TLSv1.3 refuses a TLS 1.2 client (${old.error})`)
  t.equal((await tlsExchange(p2.port, { servername: 'x.test', path: '/' })).status, 200, 'and serves a TLS 1.3 one')
  const c = await tlsExchange(p3.port, { servername: 'x.test', maxVersion: 'TLSv1.2', path: '/' })
  t.equal(c.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'the configured TLS 1.2 cipher is used')
  t.equal(c.status, 200)
})

t.test('sessions resume on later connections whichever worker thread gets them, and after a reload', async (t) => {
  const { p } = await start(t, (o) => tlsConfig(o, [{ files: certDefault }], { workers: 2 }))
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    const first = await tlsExchange(p.port, { servername: 'x.test', minVersion: version, maxVersion: version, path: '/first' })
    t.equal(first.status, 200)
    t.ok(first.session !== null, `${version}: a session ticket arrived`)
    t.equal(first.isReused, false)
    // Several at once: piscina spreads concurrent connections over both threads.
    const again = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      tlsExchange(p.port, { servername: 'x.test', minVersion: version, maxVersion: version, session: first.session as Buffer, path: `/again${i}` })))
    t.same(again.map((r) => r.isReused), again.map(() => true), `${version}: every later connection resumed`)
    t.same(again.map((r) => r.status), again.map(() => 200))
  }
  const before = await tlsExchange(p.port, { servername: 'x.test', path: '/before' })
  p.proc.kill('SIGHUP')
  await p.waitFor(/configuration reloaded/)
  const after = await tlsExchange(p.port, { servername: 'x.test', session: before.session as Buffer, path: '/after' })
  t.equal(after.isReused, true, 'a ticket from the previous generation still resumes')
  t.equal(after.status, 200)
})

t.test('SIGHUP re-reads the certificates', async (t) => {
  const live = makeCert(dir, 'live', 'one.test')
  const two = makeCert(dir, 'two', 'two.test')
  const { p } = await start(t, (o) => tlsConfig(o, [{ files: live }]))
  t.equal((await tlsExchange(p.port, { servername: 'x.test' })).cn, 'one.test')
  copyFileSync(two.cert, live.cert)
  copyFileSync(two.key, live.key)
  p.proc.kill('SIGHUP')
  await p.waitFor(/configuration reloaded/)
  t.ok(await eventually(async () => (await tlsExchange(p.port, { servername: 'x.test' })).cn === 'two.test'), 'new connections get the new certificate')
})

t.test('an expired certificate on reload is refused and the running one keeps serving', async (t) => {
  const live = makeCert(dir, 'live2', 'current.test')
  const expired = makeExpiredCert(dir, 'expired', 'expired.test')
  const { p } = await start(t, (o) => tlsConfig(o, [{ files: live }]))
  copyFileSync(expired.cert, live.cert)
  copyFileSync(expired.key, live.key)
  p.proc.kill('SIGHUP')
  await p.waitFor(/reload refused|configuration reloaded/)
  const r = await tlsExchange(p.port, { servername: 'x.test', path: '/' })
  t.equal(r.cn, 'current.test', 'still the previous certificate')
  t.equal(r.status, 200)
})

t.test('plain HTTP to a TLS port and a silent client are closed; the next client is served', async (t) => {
  const metricsPort = await freePort()
  const { p } = await start(t, (o) => tlsConfig(o, [{ files: certDefault }], { metricsPort, timeouts: 'client_header = "500ms"' }))
  const plain = await rawExchange(p.port, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n', { idleMs: 3000 })
  t.ok(plain.closed, 'plain HTTP: connection closed')
  t.notMatch(plain.text, /HTTP\/1\.1 200/, 'and never proxied')
  const startedMs = Date.now()
  const silent = await rawExchange(p.port, '', { idleMs: 5000 })
  t.ok(silent.closed, 'a client that never starts the handshake is cut')
  t.ok(Date.now() - startedMs < 3000, `after client_header (${Date.now() - startedMs}ms)`)
  const good = await tlsExchange(p.port, { servername: 'x.test', path: '/next' })
  t.equal(good.status, 200, 'the next good client is served')
  t.ok(await eventually(async () => (await tlsErrors(metricsPort)) >= 2), 'plain HTTP and the handshake timeout counted as TLS errors')
})
