// TLS from portico to upstream servers (`tls = true` with tls_sni / tls_ca / tls_verify), through
// the real CLI: HTTPS origins with test certificates (each self-signed certificate is its own CA),
// keep-alive reuse and session resumption towards them, verification failures as 502 with a log
// line, and health checks over TLS.

import t from 'tap'
import https from 'node:https'
import type http from 'node:http'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { basicConfig, request, runCli, sleep, startPortico, writeConfig } from './harness.ts'
import { certDir, makeCert } from '../fixtures/tls/certs.ts'
import type { CertFiles } from '../fixtures/tls/certs.ts'

interface TlsOrigin {
  name: string
  port: number
  /** TLS connections accepted, how many of them resumed a session, and the SNI each sent. */
  tlsConnections: number
  resumed: number
  servernames: Array<string | false | null>
  /** GET /health requests seen, and the status they get. */
  healthChecks: number
  healthStatus: number
  /** Answer with `connection: close` (a new upstream connection for every request). */
  isClosing: boolean
  close(): Promise<void>
}

async function startTlsOrigin(name: string, files: CertFiles): Promise<TlsOrigin> {
  const origin: TlsOrigin = {
    name, port: 0, tlsConnections: 0, resumed: 0, servernames: [], healthChecks: 0, healthStatus: 200, isClosing: false,
    close: async () => {},
  }
  const server = https.createServer({ key: readFileSync(files.key), cert: readFileSync(files.cert), keepAliveTimeout: 60_000 },
    (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.url === '/health') {
        origin.healthChecks++
        res.statusCode = origin.healthStatus
        res.end()
        return
      }
      const socket = req.socket as TLSSocket
      res.setHeader('x-server', name)
      res.setHeader('x-sni', String(socket.servername))
      if (origin.isClosing) res.setHeader('connection', 'close')
      req.resume()
      req.on('end', () => res.end(`${name} ${req.method} ${req.url}`))
    })
  server.on('secureConnection', (socket: TLSSocket) => {
    origin.tlsConnections++
    if (socket.isSessionReused()) origin.resumed++
    origin.servernames.push(socket.servername)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin.port = (server.address() as AddressInfo).port
  origin.close = () => new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
  return origin
}

/** basicConfig's shape for TLS origins; `upstream` holds the tls keys. */
function tlsConfig(origins: TlsOrigin[], upstream: string, tail = ''): string {
  return basicConfig(origins.map((o) => ({ name: o.name, port: o.port })) as never, { upstream, tail })
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (cond()) return true
    await sleep(20)
  }
  return cond()
}

const dir = certDir()
const originCert = makeCert(dir, 'origin', 'origin.test')
const otherCert = makeCert(dir, 'other', 'other.test')

t.test('20 requests on one client connection: one TLS connection upstream, SNI = tls_sni, certificate verified by tls_ca', async (t) => {
  const o = await startTlsOrigin('s1', originCert)
  t.teardown(() => o.close())
  const p = await startPortico(tlsConfig([o], `tls = true\ntls_sni = "origin.test"\ntls_ca = "${originCert.cert}"`))
  t.teardown(() => p.stop())
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 20; i++) {
    const r = await request(p.port, { path: `/r${i}`, agent, timeoutMs: 5000 })
    t.equal(r.status, 200, `request ${i}`)
    t.equal(r.text, `s1 GET /r${i}`)
    t.equal(r.headers['x-sni'], 'origin.test', 'the origin saw tls_sni as SNI')
  }
  t.equal(o.tlsConnections, 1, 'one pooled TLS connection carried all 20')
  t.same(o.servernames, ['origin.test'])
})

t.test('new upstream connections resume the TLS session of the previous one', async (t) => {
  const o = await startTlsOrigin('s1', originCert)
  o.isClosing = true
  t.teardown(() => o.close())
  const p = await startPortico(tlsConfig([o], `tls = true\ntls_sni = "origin.test"\ntls_ca = "${originCert.cert}"`))
  t.teardown(() => p.stop())
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 5; i++) {
    const r = await request(p.port, { path: `/r${i}`, agent, timeoutMs: 5000 })
    t.equal(r.status, 200, `request ${i}`)
  }
  t.equal(o.tlsConnections, 5, 'the origin closed each connection')
  t.ok(o.resumed >= 4, `all but the first handshake resumed a session (${o.resumed} of 5)`)
})

t.test('a certificate the CA did not sign: 502, and a warn line naming the server and the TLS error', async (t) => {
  const o = await startTlsOrigin('s1', originCert)
  t.teardown(() => o.close())
  const p = await startPortico(tlsConfig([o], `tls = true\ntls_sni = "origin.test"\ntls_ca = "${otherCert.cert}"\nretries = 0`))
  t.teardown(() => p.stop())
  const r = await request(p.port, { path: '/x', timeoutMs: 5000 })
  t.equal(r.status, 502)
  const line = await p.waitFor(/upstream_connect_failed/, 5000)
  t.match(line, /"level":40/, "warn level")
  t.match(line, /cannot connect to app\/s1: [^"]*(self-signed|certificate)/i, 'the reason is the certificate error')
})

t.test('a name the certificate does not carry fails verification: 502', async (t) => {
  const o = await startTlsOrigin('s1', originCert)
  t.teardown(() => o.close())
  const p = await startPortico(tlsConfig([o], `tls = true\ntls_sni = "wrong.test"\ntls_ca = "${originCert.cert}"\nretries = 0`))
  t.teardown(() => p.stop())
  const r = await request(p.port, { path: '/x', timeoutMs: 5000 })
  t.equal(r.status, 502)
  t.match(await p.waitFor(/upstream_connect_failed/, 5000), /wrong\.test|altnames/i)
})

t.test('tls_verify = false accepts a certificate the CA did not sign; no tls_sni and an IP address send no SNI', async (t) => {
  const o = await startTlsOrigin('s1', originCert)
  t.teardown(() => o.close())
  const p = await startPortico(tlsConfig([o], `tls = true\ntls_ca = "${otherCert.cert}"\ntls_verify = false`))
  t.teardown(() => p.stop())
  const r = await request(p.port, { path: '/y', timeoutMs: 5000 })
  t.equal(r.status, 200)
  t.equal(r.text, 's1 GET /y')
  t.equal(r.headers['x-sni'], 'false', 'no SNI for 127.0.0.1')
})

t.test('a server overrides the upstream: tls off for the upstream, on with its own keys for one server', async (t) => {
  const o = await startTlsOrigin('s1', originCert)
  t.teardown(() => o.close())
  const toml = basicConfig([], {}).replace('name = "app"\n', `name = "app"\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:${o.port}"\ntls = true\ntls_sni = "origin.test"\ntls_ca = "${originCert.cert}"\n`)
  const p = await startPortico(toml)
  t.teardown(() => p.stop())
  const r = await request(p.port, { path: '/z', timeoutMs: 5000 })
  t.equal(r.status, 200)
  t.equal(r.headers['x-sni'], 'origin.test')
})

t.test('health checks of a TLS upstream run over TLS: UP while /health answers 200, DOWN on 503 and on a bad certificate', async (t) => {
  const good = await startTlsOrigin('good', originCert)
  const bad = await startTlsOrigin('bad', otherCert)
  t.teardown(async () => { await good.close(); await bad.close() })
  // Both servers answer checks of origin.test-verified TLS only; "bad" has a certificate for other.test.
  const health = '[upstreams.health]\npath = "/health"\ninterval = "100ms"\ntimeout = "90ms"\nrise = 1\nfall = 2'
  const p = await startPortico(tlsConfig([good, bad], `tls = true\ntls_sni = "origin.test"\ntls_ca = "${originCert.cert}"\n${health}`))
  t.teardown(() => p.stop())
  t.match(await p.waitFor(/server app\/bad is DOWN/, 5000), /tls/, 'a certificate failure marks the server DOWN, reason tls')
  t.ok(await waitUntil(() => good.healthChecks >= 3, 3000), `the TLS origin answered checks (${good.healthChecks})`)
  t.equal(bad.healthChecks, 0, 'no check request reached the server with the wrong certificate')
  t.notOk(p.stderr.some((l) => /server app\/good is DOWN/.test(l)), 'good stayed UP')
  good.healthStatus = 503
  t.match(await p.waitFor(/server app\/good is DOWN/, 5000), /status 503/)
  good.healthStatus = 200
  await p.waitFor(/server app\/good is UP/, 5000)
  const r = await request(p.port, { path: '/after', timeoutMs: 5000 })
  t.equal(r.status, 200)
  t.equal(r.headers['x-server'], 'good')
})

t.test('--check: a missing tls_ca file and tls keys without tls are problems with key path and line', async (t) => {
  const { file } = writeConfig(`[[listeners]]
name = "web"
bind = "127.0.0.1:8080"
[[routes]]
name = "r"
upstream = "app"
[[upstreams]]
name = "app"
tls = true
tls_ca = "no-such-ca.pem"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9001"
[[upstreams]]
name = "plain"
tls_sni = "a.test"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9002"
tls_verify = false
[[upstreams.servers]]
name = "s2"
address = "127.0.0.1:9003"
tls_sni = "1.2.3.4"
tls = true
`)
  const r = await runCli(['-c', file, '--check'])
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`${file}:10: upstreams\\[0\\]\\.tls_ca = "no-such-ca.pem": cannot read ca file .*no-such-ca\\.pem: no such file`))
  t.match(r.stderr, new RegExp(`${file}:20: upstreams\\[1\\]\\.servers\\[0\\]\\.tls_verify = false: tls_verify is used only with tls = true`))
  t.match(r.stderr, new RegExp(`${file}:24: upstreams\\[1\\]\\.servers\\[1\\]\\.tls_sni = "1.2.3.4": expected a dns host name`))
  t.notMatch(r.stderr, /upstreams\[1\]\.tls_sni/, 'upstream-level tls_sni is used by s2, which has tls = true')

  const { file: file2 } = writeConfig(`[[listeners]]
name = "web"
bind = "127.0.0.1:8080"
[[routes]]
name = "r"
upstream = "app"
[[upstreams]]
name = "app"
tls_sni = "a.test"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9001"
`)
  const r2 = await runCli(['-c', file2, '--check'])
  t.equal(r2.code, 1)
  t.match(r2.stderr, new RegExp(`${file2}:9: upstreams\\[0\\]\\.tls_sni = "a.test": tls_sni is used only with tls = true`))
})
