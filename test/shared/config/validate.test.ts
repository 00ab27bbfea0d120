// Config validation (src/shared/config/validate.ts): every default, every kind of problem with
// its exact line, and all problems of a file reported at once.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { parseToml } from '../../../src/shared/config/parse.ts'
import type { Config, ConfigProblem } from '../../../src/shared/config/types.ts'
import { editDistance, nearestKey, renderValue, validate } from '../../../src/shared/config/validate.ts'

// The `t` of a subtest (tap's overloads end with `test(cb)`).
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0]

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-validate-'))
t.teardown(() => fs.rmSync(DIR, { recursive: true, force: true }))
const FILE = path.join(DIR, 'portico.toml')

// Two self-signed P-256 certificates (CN a.example.com, b.example.com; valid until 2126) and
// their keys, plus key A encrypted with a passphrase.
const CERT_A = `-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUCdREzsxkR8CUXdd4/CaFFDv4z+4wCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYS5leGFtcGxlLmNvbTAgFw0yNjExMjYwMTA5NDNaGA8yMTI2
MTEwMjAxMDk0M1owGDEWMBQGA1UEAwwNYS5leGFtcGxlLmNvbTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABJs+hfuAHuBsYMwdMy/TB0J0a0fVB/FNeu958f6M0RuQ
qjBb19GNzY9jx6/VnXcfnwEjHZ05cOCfKz32ICHx+b2jUzBRMB0GA1UdDgQWBBSw
a8V9NoCdgkm5f1dkM8m/bB+FADAfBgNVHSMEGDAWgBSwa8V9NoCdgkm5f1dkM8m/
bB+FADAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCnhcu+1fQ8
76WU+wJgJyMBzB5kv7QkDBjx/BwMYDCLjwIhALMrvIolnjy2Q8y6LdAh6ifE/+bb
qao0bSzzXQtMWLv2
-----END CERTIFICATE-----
`
const KEY_A = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPo7kdJwnxprKOam1
mx0dFfnPO6jO9HKhJE1gyn1UVeShRANCAASbPoX7gB7gbGDMHTMv0wdCdGtH1Qfx
TXrvefH+jNEbkKowW9fRjc2PY8ev1Z13H58BIx2dOXDgnys99iAh8fm9
-----END PRIVATE KEY-----
`
const CERT_B = `-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUaM/f8flLrfqEmdNHYIHWcnY6DRowCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYi5leGFtcGxlLmNvbTAgFw0yNjExMjYwMTA5NDNaGA8yMTI2
MTEwMjAxMDk0M1owGDEWMBQGA1UEAwwNYi5leGFtcGxlLmNvbTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABELOgAk0Uw7ZMB28pLSbcVfWotZB/UYefSrriKjVgbiy
6i9Ij6bXF3BTbk+jHNwPOjkfNuxXslhNbO0k/neYw42jUzBRMB0GA1UdDgQWBBQ7
bzOz89n8XSrbou8cSnhO1UeUJTAfBgNVHSMEGDAWgBQ7bzOz89n8XSrbou8cSnhO
1UeUJTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCZn2YhTn+9
bKexblMpgKpBPfRWZZwMADRcg1UP6L+wbwIhANUM/YKCsZ3VDjFP+L61ZNjirwHr
mSDqdPbHKeTqoi/d
-----END CERTIFICATE-----
`
const KEY_B = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLRYeBsVAkDyyayZV
MGkcRbn9YGywPrkyn8wwj7CaxTGhRANCAARCzoAJNFMO2TAdvKS0m3FX1qLWQf1G
Hn0q64io1YG4suovSI+m1xdwU25PoxzcDzo5HzbsV7JYTWztJP53mMON
-----END PRIVATE KEY-----
`
const KEY_A_ENCRYPTED = `-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgLUvJkhNAbIQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEDf1ZXDvhs6mqhqVMCAyoPQEgZAo
en6WZVm4buvcUZ8Xc14am+cKchhf9JI6M9yKOmdWnFxD9C3z1wuyaa4H/lOqUKPr
WFFohQa83gQ8QLAZYQrJEuecvBd9h0Qu3vs/hoVs+yvSgGo4+hjpKprc8NfpYH5Q
RQUxgrOj6CKijSVaOQduZS6e4uy8eCX9AEY8b4p5lXwa7VhKh2Fh5XAwWWyUZ6U=
-----END ENCRYPTED PRIVATE KEY-----
`
fs.mkdirSync(path.join(DIR, 'tls'))
fs.writeFileSync(path.join(DIR, 'tls/a.pem'), CERT_A)
fs.writeFileSync(path.join(DIR, 'tls/a.key'), KEY_A)
fs.writeFileSync(path.join(DIR, 'tls/b.pem'), CERT_B)
fs.writeFileSync(path.join(DIR, 'tls/b.key'), KEY_B)
fs.writeFileSync(path.join(DIR, 'tls/a-encrypted.key'), KEY_A_ENCRYPTED)
fs.writeFileSync(path.join(DIR, 'tls/garbage.pem'), 'not a certificate\n')

const LISTENER = `[[listeners]]
name = "web"
bind = "127.0.0.1:8080"
`
const UPSTREAM = `[[upstreams]]
name = "api"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9001"
`
const ROUTE = `[[routes]]
name = "all"
upstream = "api"
`
/** The smallest valid config: one listener, one upstream with one server, one route. */
const MINIMAL = LISTENER + UPSTREAM + ROUTE

function check(src: string): { config: Config | null; problems: ConfigProblem[] } {
  const r = parseToml(src)
  if (!r.ok) throw new Error(`test fixture is not valid toml: line ${r.problem.line}: ${r.problem.message}\n${src}`)
  return validate(r.raw, FILE, r.locate)
}

function valid(t: TapTest, src: string): Config {
  const r = check(src)
  t.same(r.problems, [], 'no problems')
  if (r.config === null) throw new Error('config is null')
  return r.config
}

/** 1-based line of the only line of `src` containing `needle`. */
function lineOf(src: string, needle: string): number {
  const lines = src.split('\n')
  const found = lines.flatMap((l, i) => (l.includes(needle) ? [i + 1] : []))
  if (found.length !== 1) throw new Error(`"${needle}" is on ${found.length} lines of the fixture, expected 1`)
  return found[0]
}

/**
 * Asserts the file has exactly one problem, at `path`, on line `where` (a number, or the line
 * holding that text), with a message matching `message` (and the rendered value when given).
 */
function oneProblem(t: TapTest, src: string, p: string, where: string | number, message: RegExp, value?: string): void {
  const r = check(src)
  t.equal(r.config, null, 'no config when there is a problem')
  t.equal(r.problems.length, 1, `exactly one problem: ${JSON.stringify(r.problems)}`)
  const got = r.problems[0]
  if (got === undefined) return
  t.equal(got.path, p, 'key path')
  t.equal(got.line, typeof where === 'number' ? where : lineOf(src, where), `line of ${where}`)
  t.match(got.message, message)
  if (value !== undefined) t.equal(got.value, value, 'value')
}

// ---- defaults ------------------------------------------------------------------------------

t.test('a minimal config gets every default of DESIGN.md', async (t) => {
  const c = valid(t, MINIMAL)
  const timeouts = {
    clientHeaderMs: 10_000, clientIdleMs: 60_000, upstreamConnectMs: 3_000, upstreamResponseMs: 30_000,
    upstreamIdleMs: 60_000, queueMs: 5_000, tunnelIdleMs: 3_600_000, clientSendMs: 60_000,
  }
  t.same(c, {
    file: FILE,
    global: {
      workers: Math.min(os.availableParallelism(), 256), user: null, group: null, allowRoot: false,
      maxConnections: 100_000, drainTimeoutMs: 30_000, maxHeaderBytes: 16384, maxHeaders: 100, maxRequestLineBytes: 8192, idleGc: true,
    },
    log: { level: 'info', access: 'stdout', error: 'stderr' },
    runtime: { statsSocket: null, adminSocket: null, metrics: null },
    timeouts,
    listeners: [{ name: 'web', bind: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, protocols: ['http/1.1'], tls: null, accept: 'main' }],
    routes: [{
      name: 'all', listeners: [], host: null, pathPrefix: null, path: null, pathRegex: null, headers: {},
      methods: [], upstream: 'api', requestBuffering: false, maxBodyBytes: Number.MAX_SAFE_INTEGER,
      maxBufferedBodyBytes: 1024 * 1024, timeouts,
    }],
    upstreams: [{
      name: 'api', balance: 'round_robin', hashKey: null, maxConnectionsPerServer: 0, keepalive: 64, retries: 1,
      ejectAfter: 5, ejectBaseMs: 10_000, ejectMaxMs: 300_000, health: null,
      servers: [{ name: 's1', address: '127.0.0.1:9001', host: '127.0.0.1', port: 9001, weight: 100, tls: null }],
    }],
  })
  t.not(c.routes[0].timeouts, c.timeouts, 'each route has its own timeouts object')
})

t.test('an empty [upstreams.health] gets every health default', async (t) => {
  const c = valid(t, LISTENER + UPSTREAM + '[upstreams.health]\n' + ROUTE)
  t.same(c.upstreams[0].health, {
    path: '/', intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3, expectStatus: [200, 399], host: null,
  })
})

t.test('every key set explicitly comes through converted', async (t) => {
  const c = valid(t, `
[global]
workers = 3
user = "nobody"
group = "nogroup"
allow_root = true
max_connections = 500
drain_timeout = "0s"
idle_gc = false
[log]
level = "debug"
access = "off"
error = "logs/error.log"
[runtime]
stats_socket = "run/stats.sock"
admin_socket = "/run/admin.sock"
metrics = "[::1]:9901"
[timeouts]
client_header = "1s"
client_idle = "2s"
upstream_connect = "3s"
upstream_response = "4s"
upstream_idle = "5s"
queue = "6s"
tunnel_idle = "7s"
[[listeners]]
name = "web"
bind = "[::]:8443"
protocols = ["h2", "http/1.1"]
[listeners.tls]
cert = "tls/a.pem"
key = "tls/a.key"
min_version = "TLSv1.3"
ciphers = "ECDHE+AESGCM"
[[upstreams]]
name = "api"
balance = "hash"
hash_key = "header:X-User-Id"
max_connections_per_server = 10
keepalive = 0
retries = 0
eject_after = 0
eject_base = "1s"
eject_max = "1m"
[upstreams.health]
path = "/healthz"
interval = "10s"
timeout = "1s"
rise = 1
fall = 5
expect_status = [200, 204]
host = "API.internal"
[[upstreams.servers]]
name = "s1"
address = "localhost:9001"
weight = 0
[[upstreams.servers]]
name = "s2"
address = "[::1]:9002"
weight = 256
[[routes]]
name = "r"
listeners = ["web"]
host = "*.Example.COM"
path_regex = "^/v[0-9]+/"
headers = { "X-Canary" = "1" }
methods = ["get", "Post"]
upstream = "api"
request_buffering = true
max_body = "10MB"
max_buffered_body = "64KB"
[routes.timeouts]
upstream_response = "2m"
`)
  t.same(c.global, { workers: 3, user: 'nobody', group: 'nogroup', allowRoot: true, maxConnections: 500, drainTimeoutMs: 0, maxHeaderBytes: 16384, maxHeaders: 100, maxRequestLineBytes: 8192, idleGc: false })
  t.same(c.log, { level: 'debug', access: 'off', error: path.join(DIR, 'logs/error.log') })
  t.same(c.runtime, { statsSocket: path.join(DIR, 'run/stats.sock'), adminSocket: '/run/admin.sock', metrics: '[::1]:9901' })
  t.same(c.timeouts, {
    clientHeaderMs: 1000, clientIdleMs: 2000, upstreamConnectMs: 3000, upstreamResponseMs: 4000,
    upstreamIdleMs: 5000, queueMs: 6000, tunnelIdleMs: 7000, clientSendMs: 60_000,
  })
  t.same(c.listeners[0], {
    name: 'web', bind: '[::]:8443', host: '::', port: 8443, protocols: ['h2', 'http/1.1'],
    tls: {
      certs: [{ certFile: path.join(DIR, 'tls/a.pem'), keyFile: path.join(DIR, 'tls/a.key'), serverNames: [] }],
      minVersion: 'TLSv1.3', ciphers: 'ECDHE+AESGCM',
    },
    accept: 'main',
  })
  const u = c.upstreams[0]
  t.same(u.hashKey, { kind: 'header', name: 'x-user-id' }, 'header names are lowercased')
  t.same([u.balance, u.maxConnectionsPerServer, u.keepalive, u.retries, u.ejectAfter, u.ejectBaseMs, u.ejectMaxMs],
    ['hash', 10, 0, 0, 0, 1000, 60_000])
  t.same(u.health, { path: '/healthz', intervalMs: 10_000, timeoutMs: 1000, rise: 1, fall: 5, expectStatus: [200, 204], host: 'API.internal' })
  t.same(u.servers, [
    { name: 's1', address: 'localhost:9001', host: 'localhost', port: 9001, weight: 0, tls: null },
    { name: 's2', address: '[::1]:9002', host: '::1', port: 9002, weight: 256, tls: null },
  ])
  const r = c.routes[0]
  t.same(r.listeners, ['web'])
  t.equal(r.host, '*.example.com', 'host is lowercased')
  t.equal(r.pathRegex, '^/v[0-9]+/')
  t.same(r.headers, { 'x-canary': '1' }, 'header names are lowercased, values kept')
  t.same(r.methods, ['GET', 'POST'], 'methods are uppercased')
  t.equal(r.requestBuffering, true)
  t.equal(r.maxBodyBytes, 10 * 1024 * 1024)
  t.equal(r.maxBufferedBodyBytes, 64 * 1024)
  t.same(r.timeouts, { ...c.timeouts, upstreamResponseMs: 120_000 }, 'route timeouts merge over [timeouts]')
})

t.test('workers = "auto" is the number of available cores', async (t) => {
  const c = valid(t, '[global]\nworkers = "auto"\n' + MINIMAL)
  t.equal(c.global.workers, os.availableParallelism())
})

t.test('route timeouts merge over the global [timeouts], not over the built-in defaults', async (t) => {
  const c = valid(t, '[timeouts]\nqueue = "9s"\nclient_idle = "1m"\n' + MINIMAL + '[routes.timeouts]\nqueue = "1s"\n')
  t.equal(c.timeouts.queueMs, 9000)
  t.equal(c.routes[0].timeouts.queueMs, 1000)
  t.equal(c.routes[0].timeouts.clientIdleMs, 60_000)
  t.equal(c.routes[0].timeouts.upstreamConnectMs, 3000)
})

t.test('max_body takes a size, an integer of bytes, or "unlimited"', async (t) => {
  t.equal(valid(t, MINIMAL + 'max_body = "unlimited"\n').routes[0].maxBodyBytes, Number.MAX_SAFE_INTEGER)
  t.equal(valid(t, MINIMAL + 'max_body = 0\n').routes[0].maxBodyBytes, 0)
  t.equal(valid(t, MINIMAL + 'max_body = 1000\n').routes[0].maxBodyBytes, 1000)
  t.equal(valid(t, MINIMAL + 'max_body = "512KB"\n').routes[0].maxBodyBytes, 512 * 1024)
})

t.test('hash keys: header, cookie, client_ip, path', async (t) => {
  const up = (key: string): string => LISTENER + `[[upstreams]]\nname = "api"\nbalance = "hash"\nhash_key = "${key}"\n` +
    '[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE
  t.same(valid(t, up('header:X-User')).upstreams[0].hashKey, { kind: 'header', name: 'x-user' })
  t.same(valid(t, up('cookie:SessionId')).upstreams[0].hashKey, { kind: 'cookie', name: 'SessionId' }, 'cookie names keep their case')
  t.same(valid(t, up('client_ip')).upstreams[0].hashKey, { kind: 'client_ip', name: '' })
  t.same(valid(t, up('path')).upstreams[0].hashKey, { kind: 'path', name: '' })
})

t.test('expect_status takes one status as a range of one', async (t) => {
  const c = valid(t, LISTENER + UPSTREAM + '[upstreams.health]\nexpect_status = 204\n' + ROUTE)
  t.same(c.upstreams[0].health?.expectStatus, [204, 204])
})

t.test('SNI certificates: one default without server_names, names lowercased', async (t) => {
  const c = valid(t, `[[listeners]]
name = "tls"
bind = "0.0.0.0:443"
protocols = ["http/1.1", "h2"]
[[listeners.tls.certs]]
cert = "tls/a.pem"
key = "tls/a.key"
[[listeners.tls.certs]]
cert = "${path.join(DIR, 'tls/b.pem')}"
key = "tls/b.key"
server_names = ["B.example.com", "*.b.example.com"]
` + UPSTREAM + ROUTE)
  t.same(c.listeners[0].tls, {
    certs: [
      { certFile: path.join(DIR, 'tls/a.pem'), keyFile: path.join(DIR, 'tls/a.key'), serverNames: [] },
      { certFile: path.join(DIR, 'tls/b.pem'), keyFile: path.join(DIR, 'tls/b.key'), serverNames: ['b.example.com', '*.b.example.com'] },
    ],
    minVersion: 'TLSv1.2',
    ciphers: null,
  })
})

t.test('the same server name in two upstreams, and the same port on two hosts, are fine', async (t) => {
  const c = valid(t, LISTENER + '[[listeners]]\nname = "lo6"\nbind = "[::1]:8080"\n' + UPSTREAM +
    '[[upstreams]]\nname = "b"\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:9002"\n' + ROUTE)
  t.equal(c.upstreams[1].servers[0].name, 's1')
  t.equal(c.listeners.length, 2)
})

// ---- problems, one kind at a time ------------------------------------------------------------

t.test('unknown keys are errors, with the nearest valid key suggested', async (t) => {
  oneProblem(t, MINIMAL + 'uptream = "x"\n', 'routes[0].uptream', 'uptream',
    /^unknown key "uptream" \(did you mean "upstream"\?\), expected one of name, listeners, host, path_prefix, path, path_regex, headers, methods, upstream, request_buffering, max_body, max_buffered_body, timeouts$/,
    '"x"')
  oneProblem(t, LISTENER + UPSTREAM + 'wieght = 1\n' + ROUTE, 'upstreams[0].servers[0].wieght', 'wieght',
    /^unknown key "wieght" \(did you mean "weight"\?\), expected one of name, address, weight, tls, tls_sni, tls_ca, tls_verify$/)
  oneProblem(t, '[global]\nfrobnicate = true\n' + MINIMAL, 'global.frobnicate', 'frobnicate',
    /^unknown key "frobnicate", expected one of workers, user, group, allow_root, max_connections, drain_timeout, max_header_bytes, max_headers, max_request_line, idle_gc$/, 'true')
  oneProblem(t, '[listener]\nname = "x"\n' + MINIMAL, 'listener', '[listener]', /^unknown key "listener" \(did you mean "listeners"\?\)/)
  oneProblem(t, MINIMAL + '[routes.timeouts]\nupstream-connect = "1s"\n', 'routes[0].timeouts.upstream-connect', 'upstream-connect',
    /did you mean "upstream_connect"/)
  oneProblem(t, LISTENER + UPSTREAM + '[upstreams.health]\nintervall = "1s"\n' + ROUTE, 'upstreams[0].health.intervall', 'intervall',
    /did you mean "interval"/)
})

t.test('a misspelt required key is one problem, not also "missing"', async (t) => {
  oneProblem(t, LISTENER + UPSTREAM + '[[routes]]\nname = "r"\nuptream = "api"\n', 'routes[0].uptream', 'uptream', /did you mean "upstream"/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n[[upstreams.server]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].server', '[[upstreams.server]]', /^unknown key "server" \(did you mean "servers"\?\)/)
  oneProblem(t, '[[listener]]\nname = "web"\nbind = "127.0.0.1:1"\n' + UPSTREAM + ROUTE, 'listener', '[[listener]]', /did you mean "listeners"/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\nbalance = "hash"\nhash_ky = "path"\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].hash_ky', 'hash_ky', /did you mean "hash_key"/)
})

t.test('nearestKey suggests only close matches', async (t) => {
  t.equal(nearestKey('uptream', ['upstream', 'name']), 'upstream')
  t.equal(nearestKey('Weight', ['weight']), 'weight')
  t.equal(nearestKey('max-body', ['max_body']), 'max_body')
  t.equal(nearestKey('xyz', ['weight', 'name']), null)
  t.equal(nearestKey('a', ['b']), 'b', 'one letter off is close for a one-letter key')
  t.equal(editDistance('wieght', 'weight'), 1, 'a transposition is one edit')
  t.equal(editDistance('', 'abc'), 3)
})

t.test('wrong types name what was expected and what was found', async (t) => {
  oneProblem(t, '[global]\nworkers = "many"\n' + MINIMAL, 'global.workers', 'workers =', /^workers must be "auto" or 1..256$/, '"many"')
  oneProblem(t, '[global]\nmax_connections = "100"\n' + MINIMAL, 'global.max_connections', 'max_connections', /^expected an integer 1..10000000, got a string$/)
  oneProblem(t, '[global]\nallow_root = "yes"\n' + MINIMAL, 'global.allow_root', 'allow_root', /^expected true or false, got a string$/)
  oneProblem(t, '[global]\nuser = 0\n' + MINIMAL, 'global.user', 'user = 0', /^expected a string, got an integer$/)
  oneProblem(t, LISTENER + 'protocols = "h2c"\n' + UPSTREAM + ROUTE, 'listeners[0].protocols', 'protocols', /^expected an array of strings, got a string$/)
  oneProblem(t, LISTENER + UPSTREAM + 'weight = 1.5\n' + ROUTE, 'upstreams[0].servers[0].weight', 'weight', /^expected an integer 0..256, got a float$/, '1.5')
  oneProblem(t, MINIMAL + 'headers = { "x-a" = 1 }\n', 'routes[0].headers.x-a', 'headers', /^expected a string \(the exact header value\), got an integer$/)
  oneProblem(t, MINIMAL + 'headers = "x-a: 1"\n', 'routes[0].headers', 'headers', /^expected a table of header name = "value", got a string$/)
  oneProblem(t, MINIMAL + 'request_buffering = 1\n', 'routes[0].request_buffering', 'request_buffering', /^expected true or false, got an integer$/)
  oneProblem(t, 'log = "stdout"\n' + MINIMAL, 'log', 'log = ', /^expected a table \(\[log\]\), got a string$/)
  oneProblem(t, '[global]\ndrain_timeout = 1979-05-27\n' + MINIMAL, 'global.drain_timeout', 'drain_timeout', /^expected a duration string/)
})

t.test('a [table] where [[array of tables]] belongs says how to write it', async (t) => {
  oneProblem(t, '[listeners]\nname = "web"\nbind = "127.0.0.1:1"\n' + UPSTREAM + ROUTE, 'listeners', '[listeners]',
    /^expected an array of tables \(write \[\[listeners\]\] for each entry\), got a table$/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n[upstreams.servers]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].servers', '[upstreams.servers]', /write \[\[upstreams.servers\]\]/)
})

t.test('out-of-range numbers give the allowed range', async (t) => {
  oneProblem(t, LISTENER + UPSTREAM + 'weight = 300\n' + ROUTE, 'upstreams[0].servers[0].weight', 'weight = 300', /^weight must be 0..256$/, '300')
  oneProblem(t, LISTENER + UPSTREAM + 'weight = -1\n' + ROUTE, 'upstreams[0].servers[0].weight', 'weight = -1', /^weight must be 0..256$/, '-1')
  oneProblem(t, '[global]\nworkers = 0\n' + MINIMAL, 'global.workers', 'workers', /^workers must be "auto" or 1..256$/, '0')
  oneProblem(t, '[global]\nworkers = 257\n' + MINIMAL, 'global.workers', 'workers', /^workers must be "auto" or 1..256$/)
  oneProblem(t, '[global]\nmax_connections = 0\n' + MINIMAL, 'global.max_connections', 'max_connections', /^max_connections must be 1..10000000$/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\nretries = 17\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].retries', 'retries', /^retries must be 0..16$/)
  oneProblem(t, LISTENER + UPSTREAM + '[upstreams.health]\nrise = 0\n' + ROUTE, 'upstreams[0].health.rise', 'rise', /^rise must be 1..100$/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\nmax_connections_per_server = -1\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].max_connections_per_server', 'max_connections_per_server', /must be 0..1000000/)
})

t.test('ports must be 1..65535 in binds, addresses and metrics', async (t) => {
  oneProblem(t, '[[listeners]]\nname = "web"\nbind = "127.0.0.1:0"\n' + UPSTREAM + ROUTE, 'listeners[0].bind', 'bind',
    /^port 0 is out of range, expected 1..65535$/, '"127.0.0.1:0"')
  oneProblem(t, '[[listeners]]\nname = "web"\nbind = "127.0.0.1:65536"\n' + UPSTREAM + ROUTE, 'listeners[0].bind', 'bind', /port 65536 is out of range/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:99999"\n' + ROUTE,
    'upstreams[0].servers[0].address', 'address', /port 99999 is out of range/)
  oneProblem(t, '[runtime]\nmetrics = "127.0.0.1"\n' + MINIMAL, 'runtime.metrics', 'metrics', /^missing port/)
})

t.test('addresses without a port or with a bare ipv6 are refused', async (t) => {
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n[[upstreams.servers]]\nname = "s1"\naddress = "10.0.0.1"\n' + ROUTE,
    'upstreams[0].servers[0].address', 'address', /^missing port, expected "host:port" or "\[ipv6\]:port"$/, '"10.0.0.1"')
  oneProblem(t, '[[listeners]]\nname = "web"\nbind = "::1:8080"\n' + UPSTREAM + ROUTE, 'listeners[0].bind', 'bind', /ipv6 address needs brackets/)
})

t.test('bad durations and sizes say the expected format', async (t) => {
  oneProblem(t, '[global]\ndrain_timeout = 30\n' + MINIMAL, 'global.drain_timeout', 'drain_timeout',
    /^expected a duration string such as "250ms", "5s", "2m" or "1h"$/, '30')
  oneProblem(t, '[timeouts]\nqueue = "5 s"\n' + MINIMAL, 'timeouts.queue', 'queue', /^expected a duration string/)
  oneProblem(t, '[timeouts]\nupstream_connect = "0s"\n' + MINIMAL, 'timeouts.upstream_connect', 'upstream_connect', /^upstream_connect must be at least 1ms$/)
  oneProblem(t, MINIMAL + '[routes.timeouts]\ntunnel_idle = "1d"\n', 'routes[0].timeouts.tunnel_idle', 'tunnel_idle', /^expected a duration string/)
  oneProblem(t, MINIMAL + 'max_body = "10mb"\n', 'routes[0].max_body', 'max_body',
    /^expected a size such as "100B", "512KB", "10MB", "1GB" \(1KB = 1024 bytes\) or an integer number of bytes, or "unlimited"$/, '"10mb"')
  oneProblem(t, MINIMAL + 'max_buffered_body = "unlimited"\n', 'routes[0].max_buffered_body', 'max_buffered_body', /^expected a size/)
})

t.test('duplicate names and binds point at the first one', async (t) => {
  const dupListener = LISTENER + '[[listeners]]\nname = "web"\nbind = "127.0.0.1:8081"\n' + UPSTREAM + ROUTE
  // LISTENER is lines 1-3, UPSTREAM 4-8, ROUTE 9-11
  oneProblem(t, dupListener, 'listeners[1].name', 5,
    /^duplicate listener name "web" \(first at listeners\[0\].name, line 2\)$/, '"web"')
  oneProblem(t, MINIMAL + '[[routes]]\nname = "all"\nupstream = "api"\n#second\n', 'routes[1].name', 13, /^duplicate route name "all"/)
  oneProblem(t, LISTENER + UPSTREAM + UPSTREAM.replace('"s1"', '"s9"').replace('9001', '9009') + ROUTE, 'upstreams[1].name', 10,
    /^duplicate upstream name "api"/)
  oneProblem(t, LISTENER + UPSTREAM + '[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:9002"\n' + ROUTE,
    'upstreams[0].servers[1].name', 10, /^duplicate server name in this upstream "s1" \(first at upstreams\[0\].servers\[0\].name, line 7\)$/)
  oneProblem(t, LISTENER + '[[listeners]]\nname = "web2"\nbind = "127.0.0.1:8080"\n' + UPSTREAM + ROUTE, 'listeners[1].bind', 6,
    /^bind conflicts with listeners\[0\].bind = "127.0.0.1:8080"$/)
})

t.test('duplicate-name problems carry the exact line of the duplicate', async (t) => {
  const src = [
    '[[listeners]]', //         1
    'name = "web"', //          2
    'bind = "127.0.0.1:8080"', // 3
    '[[listeners]]', //         4
    'name = "web"', //          5
    'bind = "127.0.0.1:8081"', // 6
  ].join('\n') + '\n' + UPSTREAM + ROUTE
  const r = check(src)
  t.same(r.problems.map((p) => [p.path, p.line]), [['listeners[1].name', 5]])
})

t.test('wildcard binds overlap specific binds on the same port', async (t) => {
  const two = (a: string, b: string): string =>
    `[[listeners]]\nname = "a"\nbind = "${a}"\n[[listeners]]\nname = "b"\nbind = "${b}"\n` + UPSTREAM + ROUTE
  oneProblem(t, two('0.0.0.0:80', '127.0.0.1:80'), 'listeners[1].bind', '127.0.0.1:80', /conflicts with listeners\[0\].bind = "0.0.0.0:80"/)
  oneProblem(t, two('[::1]:80', '[0:0:0:0:0:0:0:1]:80'), 'listeners[1].bind', '[0:0', /conflicts/)
  oneProblem(t, two('[::]:80', '0.0.0.0:80'), 'listeners[1].bind', '0.0.0.0:80', /conflicts/)
  t.same(check(two('0.0.0.0:80', '0.0.0.0:81')).problems, [], 'different ports are fine')
  t.same(check(two('127.0.0.1:80', '127.0.0.2:80')).problems, [], 'different addresses are fine')
  oneProblem(t, '[runtime]\nmetrics = "127.0.0.1:8080"\n' + MINIMAL, 'runtime.metrics', 'metrics', /^metrics address conflicts with listeners\[0\].bind = "127.0.0.1:8080"$/)
})

t.test('a route must name an existing upstream and existing listeners', async (t) => {
  oneProblem(t, LISTENER + UPSTREAM + '[[routes]]\nname = "r"\nupstream = "apj"\n', 'routes[0].upstream', 'apj',
    /^no upstream named "apj"; upstreams are "api"$/, '"apj"')
  oneProblem(t, LISTENER + UPSTREAM + '[[routes]]\nname = "r"\n', 'routes[0].upstream', '[[routes]]', /^missing upstream: every \[\[routes\]\] needs one$/)
  oneProblem(t, MINIMAL + 'listeners = ["web", "wbe"]\n', 'routes[0].listeners[1]', 'wbe', /^no listener named "wbe"; listeners are "web"$/)
  oneProblem(t, MINIMAL + 'listeners = []\n', 'routes[0].listeners', 'listeners = []', /leave listeners out for all listeners/)
  const r = check(LISTENER + '[[routes]]\nname = "r"\nupstream = "api"\n')
  t.match(r.problems[0]?.message, /^no upstream by that name; there are no \[\[upstreams\]\]$/)
})

t.test('a route matches on at most one of path_prefix, path, path_regex; regexes must compile', async (t) => {
  oneProblem(t, MINIMAL + 'path_prefix = "/a/"\npath = "/b"\n', 'routes[0].path', 'path = "/b"',
    /^only one of path_prefix, path, path_regex may be set \(path_prefix is set too\)$/)
  const r = check(MINIMAL + 'path_prefix = "/a/"\npath = "/b"\npath_regex = "^/c"\n')
  t.same(r.problems.map((p) => p.path), ['routes[0].path', 'routes[0].path_regex'], 'every extra one is reported')
  oneProblem(t, MINIMAL + 'path_regex = "^/v[0-9"\n', 'routes[0].path_regex', 'path_regex', /^invalid regular expression: /, '"^/v[0-9"')
  oneProblem(t, MINIMAL + 'path_prefix = "api/"\n', 'routes[0].path_prefix', 'path_prefix', /^path_prefix must start with "\/"$/)
  oneProblem(t, MINIMAL + 'path = "x"\n', 'routes[0].path', 'path = "x"', /^path must start with "\/"$/)
})

t.test('route hosts, headers and methods are checked', async (t) => {
  oneProblem(t, MINIMAL + 'host = "*"\n', 'routes[0].host', 'host', /leave host out/)
  oneProblem(t, MINIMAL + 'host = "api.example.com:8080"\n', 'routes[0].host', 'host', /without a port/)
  oneProblem(t, MINIMAL + 'host = "a..b"\n', 'routes[0].host', 'host', /^expected a host name such as "example.com" or "\*.example.com"$/)
  oneProblem(t, MINIMAL + 'host = "api.*.com"\n', 'routes[0].host', 'host', /^expected a host name/)
  oneProblem(t, MINIMAL + 'headers = { "bad name" = "1" }\n', 'routes[0].headers."bad name"', 'headers', /^"bad name" is not a valid header name$/)
  oneProblem(t, MINIMAL + 'headers = { "X-A" = "1", "x-a" = "2" }\n', 'routes[0].headers.x-a', 'headers', /^header "x-a" is listed twice$/)
  oneProblem(t, MINIMAL + 'headers = { "x-a" = "1\\r\\nx-b: 2" }\n', 'routes[0].headers.x-a', 'headers', /must not contain CR, LF or NUL/)
  oneProblem(t, MINIMAL + 'methods = ["GET", "get"]\n', 'routes[0].methods[1]', 'methods', /^method GET is listed twice$/)
  oneProblem(t, MINIMAL + 'methods = ["GE T"]\n', 'routes[0].methods[0]', 'methods', /^not a valid method name$/)
  oneProblem(t, MINIMAL + 'methods = []\n', 'routes[0].methods', 'methods', /leave methods out for any method/)
})

t.test('balance = "hash" needs a valid hash_key, and hash_key needs balance = "hash"', async (t) => {
  const up = (lines: string): string => LISTENER + `[[upstreams]]\nname = "api"\n${lines}\n` +
    '[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE
  oneProblem(t, up('balance = "hash"'), 'upstreams[0].balance', 'balance', /^balance = "hash" needs hash_key = "header:NAME", "cookie:NAME", "client_ip" or "path"$/, '"hash"')
  oneProblem(t, up('hash_key = "client_ip"'), 'upstreams[0].hash_key', 'hash_key', /^hash_key is used only with balance = "hash" \(balance is "round_robin"\)$/)
  oneProblem(t, up('balance = "least_conn"\nhash_key = "path"'), 'upstreams[0].hash_key', 'hash_key', /balance is "least_conn"/)
  oneProblem(t, up('balance = "hash"\nhash_key = "header:"'), 'upstreams[0].hash_key', 'hash_key', /^"" is not a valid header name/)
  oneProblem(t, up('balance = "hash"\nhash_key = "cookie:a b"'), 'upstreams[0].hash_key', 'hash_key', /^"a b" is not a valid cookie name/)
  oneProblem(t, up('balance = "hash"\nhash_key = "ip"'), 'upstreams[0].hash_key', 'hash_key', /^expected "header:NAME", "cookie:NAME", "client_ip" or "path"$/)
  oneProblem(t, up('balance = "weighted"'), 'upstreams[0].balance', 'balance', /^expected one of "round_robin", "least_conn", "random", "p2c", "hash"$/)
})

t.test('an upstream needs at least one server, and servers need name and address', async (t) => {
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n' + ROUTE, 'upstreams[0].servers', '[[upstreams]]',
    /^an upstream needs at least one \[\[upstreams.servers\]\]$/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\nservers = []\n' + ROUTE, 'upstreams[0].servers', 'servers = []', /at least one/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n[[upstreams.servers]]\nname = "s1"\n' + ROUTE,
    'upstreams[0].servers[0].address', '[[upstreams.servers]]', /^missing address: every \[\[upstreams.servers\]\] needs one$/)
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\n[[upstreams.servers]]\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].servers[0].name', '[[upstreams.servers]]', /^missing name/)
  oneProblem(t, LISTENER + '[[upstreams]]\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n',
    'upstreams[0].name', '[[upstreams]]', /^missing name: every \[\[upstreams\]\] needs one$/)
})

t.test('at least one listener, each with name and bind', async (t) => {
  const r = check(UPSTREAM + ROUTE)
  t.same(r.problems, [{ path: 'listeners', line: 0, message: 'no listeners: at least one [[listeners]] with name and bind is required' }])
  oneProblem(t, '[[listeners]]\nname = "web"\n' + UPSTREAM + ROUTE, 'listeners[0].bind', '[[listeners]]', /^missing bind/)
  oneProblem(t, '[[listeners]]\nbind = "127.0.0.1:1"\n' + UPSTREAM + ROUTE, 'listeners[0].name', '[[listeners]]', /^missing name/)
  oneProblem(t, '[[listeners]]\nname = ""\nbind = "127.0.0.1:1"\n' + UPSTREAM + ROUTE, 'listeners[0].name', 'name = ""', /^name must not be empty$/)
})

t.test('protocols: known names only, no repeats; h2 needs tls, h2c refuses it', async (t) => {
  oneProblem(t, LISTENER + 'protocols = ["http/1.1", "h2"]\n' + UPSTREAM + ROUTE, 'listeners[0].protocols[1]', 'protocols',
    /^h2 needs tls: add \[listeners.tls\], or use "h2c" for cleartext HTTP\/2$/, '"h2"')
  oneProblem(t, LISTENER + 'protocols = ["http/2"]\n' + UPSTREAM + ROUTE, 'listeners[0].protocols[0]', 'protocols',
    /^unknown protocol, expected one of "http\/1.1", "h2", "h2c"$/)
  oneProblem(t, LISTENER + 'protocols = ["h2c", "h2c"]\n' + UPSTREAM + ROUTE, 'listeners[0].protocols[1]', 'protocols', /^protocol listed twice$/)
  oneProblem(t, LISTENER + 'protocols = []\n' + UPSTREAM + ROUTE, 'listeners[0].protocols', 'protocols', /^expected at least one of/)
  oneProblem(t, LISTENER + 'protocols = ["h2c"]\n[listeners.tls]\ncert = "tls/a.pem"\nkey = "tls/a.key"\n' + UPSTREAM + ROUTE,
    'listeners[0].protocols[0]', 'protocols', /^h2c is cleartext HTTP\/2; with tls use "h2"$/)
  t.same(valid(t, LISTENER + 'protocols = ["h2c", "http/1.1"]\n' + UPSTREAM + ROUTE).listeners[0].protocols, ['h2c', 'http/1.1'])
})

t.test('tls files must exist, be readable, parse, and belong together; messages name the file', async (t) => {
  const tls = (lines: string): string => LISTENER + '[listeners.tls]\n' + lines + '\n' + UPSTREAM + ROUTE
  oneProblem(t, tls('cert = "tls/missing.pem"\nkey = "tls/a.key"'), 'listeners[0].tls.cert', 'missing.pem',
    new RegExp(`^cannot read certificate file ${path.join(DIR, 'tls/missing.pem')}: no such file$`), '"tls/missing.pem"')
  oneProblem(t, tls('cert = "tls/a.pem"\nkey = "/nonexistent/x.key"'), 'listeners[0].tls.key', 'x.key',
    /^cannot read key file \/nonexistent\/x.key: no such file$/)
  oneProblem(t, tls('cert = "tls"\nkey = "tls/a.key"'), 'listeners[0].tls.cert', 'cert =', new RegExp(`^certificate file ${path.join(DIR, 'tls')} is not a regular file$`))
  oneProblem(t, tls('cert = "tls/garbage.pem"\nkey = "tls/a.key"'), 'listeners[0].tls.cert', 'garbage',
    new RegExp(`^${path.join(DIR, 'tls/garbage.pem')} is not a PEM certificate$`))
  oneProblem(t, tls('cert = "tls/a.pem"\nkey = "tls/a.pem"'), 'listeners[0].tls.key', 'key =', /is not a PEM private key$/)
  oneProblem(t, tls('cert = "tls/a.pem"\nkey = "tls/b.key"'), 'listeners[0].tls.key', 'b.key',
    new RegExp(`^${path.join(DIR, 'tls/b.key')} is not the private key of ${path.join(DIR, 'tls/a.pem')}$`))
  oneProblem(t, tls('cert = "tls/a.pem"\nkey = "tls/a-encrypted.key"'), 'listeners[0].tls.key', 'encrypted',
    /is encrypted; portico needs an unencrypted private key$/)
})

t.test('tls shape: cert with key, or certs entries, not both; one default certificate', async (t) => {
  const tls = (lines: string): string => LISTENER + lines + '\n' + UPSTREAM + ROUTE
  oneProblem(t, tls('[listeners.tls]\ncert = "tls/a.pem"'), 'listeners[0].tls.key', '[listeners.tls]', /^missing key: \[listeners.tls\] needs cert and key$/)
  oneProblem(t, tls('[listeners.tls]\nmin_version = "TLSv1.3"'), 'listeners[0].tls.cert', '[listeners.tls]',
    /^tls needs cert and key, or \[\[listeners.tls.certs\]\] entries$/)
  oneProblem(t, tls('[listeners.tls]\ncert = "tls/a.pem"\nkey = "tls/a.key"\n[[listeners.tls.certs]]\ncert = "tls/b.pem"\nkey = "tls/b.key"'),
    'listeners[0].tls.certs', '[[listeners.tls.certs]]', /^use either cert and key, or \[\[listeners.tls.certs\]\] entries, not both$/)
  oneProblem(t, tls('[[listeners.tls.certs]]\ncert = "tls/a.pem"\nkey = "tls/a.key"\n[[listeners.tls.certs]]\ncert = "tls/b.pem"\nkey = "tls/b.key"'),
    'listeners[0].tls.certs[1].server_names', 7, /^only one certificate may leave out server_names \(the default\); listeners\[0\].tls.certs\[0\] does too$/)
  oneProblem(t, tls('[[listeners.tls.certs]]\ncert = "tls/a.pem"\nkey = "tls/a.key"\nserver_names = ["A.example.com"]\n[[listeners.tls.certs]]\ncert = "tls/b.pem"\nkey = "tls/b.key"\nserver_names = ["a.example.com"]'),
    'listeners[0].tls.certs[1].server_names[0]', '["a.example.com"]', /^duplicate server name "a.example.com" \(first at listeners\[0\].tls.certs\[0\].server_names\[0\]/)
  oneProblem(t, tls('[[listeners.tls.certs]]\ncert = "tls/a.pem"\nkey = "tls/a.key"\nserver_names = ["bad name"]'),
    'listeners[0].tls.certs[0].server_names[0]', 'server_names', /^expected a host name/)
  oneProblem(t, tls('[[listeners.tls.certs]]\nkey = "tls/a.key"'), 'listeners[0].tls.certs[0].cert', '[[listeners.tls.certs]]',
    /^missing cert: \[\[listeners.tls.certs\]\] needs cert and key$/)
  oneProblem(t, tls('[listeners.tls]\ncert = "tls/a.pem"\nkey = "tls/a.key"\nmin_version = "TLSv1.1"'), 'listeners[0].tls.min_version', 'min_version',
    /^expected one of "TLSv1.2", "TLSv1.3"$/)
  oneProblem(t, tls('[listeners.tls]\ncert = "tls/a.pem"\nkey = "tls/a.key"\nsni = true'), 'listeners[0].tls.sni', 'sni', /^unknown key "sni"/)
})

t.test('health: path, timeout within interval, status range, host', async (t) => {
  const health = (lines: string): string => LISTENER + UPSTREAM + '[upstreams.health]\n' + lines + '\n' + ROUTE
  oneProblem(t, health('path = "health"'), 'upstreams[0].health.path', 'path =', /^health check path must start with "\/"$/)
  oneProblem(t, health('interval = "1s"\ntimeout = "2s"'), 'upstreams[0].health.timeout', 'timeout', /^timeout must not be longer than interval \(1s\)$/)
  oneProblem(t, health('interval = "1s"'), 'upstreams[0].health.timeout', '[upstreams.health]', /timeout must not be longer than interval/,
    '"2s"')
  oneProblem(t, health('expect_status = [399, 200]'), 'upstreams[0].health.expect_status', 'expect_status', /^expected \[low, high\] with low <= high$/)
  oneProblem(t, health('expect_status = [200, 700]'), 'upstreams[0].health.expect_status', 'expect_status', /^expected an inclusive status range/)
  oneProblem(t, health('expect_status = "2xx"'), 'upstreams[0].health.expect_status', 'expect_status', /^expected an inclusive status range/)
  oneProblem(t, health('host = "*.x"'), 'upstreams[0].health.host', 'host', /^expected a host name for the Host header/)
})

t.test('ejection: eject_max must not be shorter than eject_base', async (t) => {
  oneProblem(t, LISTENER + '[[upstreams]]\nname = "api"\neject_base = "10m"\n[[upstreams.servers]]\nname = "s1"\naddress = "127.0.0.1:1"\n' + ROUTE,
    'upstreams[0].eject_max', '[[upstreams]]', /^eject_max must not be shorter than eject_base \(10m\)$/, '"5m"')
})

t.test('global, log and runtime cross-checks', async (t) => {
  oneProblem(t, '[global]\ngroup = "nogroup"\n' + MINIMAL, 'global.group', 'group', /^group needs user/)
  oneProblem(t, '[log]\nlevel = "verbose"\n' + MINIMAL, 'log.level', 'level',
    /^expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"$/)
  oneProblem(t, '[log]\naccess = "stderr"\n' + MINIMAL, 'log.access', 'access', /^expected "stdout", "off" or a file path$/)
  oneProblem(t, '[log]\nerror = "stdout"\n' + MINIMAL, 'log.error', 'error', /^expected "stderr" or a file path$/)
  oneProblem(t, '[runtime]\nstats_socket = "/tmp/x.sock"\nadmin_socket = "/tmp/x.sock"\n' + MINIMAL, 'runtime.admin_socket', 'admin_socket',
    /^admin_socket must differ from stats_socket$/)
})

t.test('a document that is not a table is one problem', async (t) => {
  const r = validate([1, 2], FILE, () => 0)
  t.equal(r.config, null)
  t.equal(r.problems.length, 2, 'not a document, and so no listeners')
  t.match(r.problems[0].message, /^expected a toml document$/)
})

// ---- all at once -----------------------------------------------------------------------------

t.test('a file with five mistakes gives five problems, in file order, each on its line', async (t) => {
  const src = [
    '[global]', //                           1
    'workers = 0', //                        2  mistake 1
    '[timeouts]', //                         3
    'queue = "5"', //                        4  mistake 2
    '[[listeners]]', //                      5
    'name = "web"', //                       6
    'bind = "127.0.0.1:8080"', //            7
    '[[routes]]', //                         8
    'name = "r"', //                         9
    'upstream = "nope"', //                 10  mistake 3
    '[[upstreams]]', //                     11
    'name = "api"', //                      12
    'balanse = "least_conn"', //            13  mistake 4
    '[[upstreams.servers]]', //             14
    'name = "s1"', //                       15
    'address = "127.0.0.1:9001"', //        16
    '[[upstreams.servers]]', //             17
    'name = "s2"', //                       18
    'address = "127.0.0.1:9002"', //        19
    'weight = 300', //                      20  mistake 5
  ].join('\n')
  const r = check(src)
  t.equal(r.config, null)
  t.same(r.problems.map((p) => [p.line, p.path, p.value]), [
    [2, 'global.workers', '0'],
    [4, 'timeouts.queue', '"5"'],
    [10, 'routes[0].upstream', '"nope"'],
    [13, 'upstreams[0].balanse', '"least_conn"'],
    [20, 'upstreams[0].servers[1].weight', '300'],
  ])
  t.match(r.problems[3].message, /did you mean "balance"/)
})

t.test('problems without a line come after those with one', async (t) => {
  const r = check('[[upstreams]]\nname = "api"\nweight = 1\n')
  t.same(r.problems.map((p) => [p.line, p.path]), [[1, 'upstreams[0].servers'], [3, 'upstreams[0].weight'], [0, 'listeners']])
})

t.test('renderValue spells values as TOML and shortens long ones', async (t) => {
  t.equal(renderValue(300), '300')
  t.equal(renderValue('web'), '"web"')
  t.equal(renderValue([200, 399]), '[200, 399]')
  t.equal(renderValue({ 'x-a': '1', 'b c': 2 }), '{ x-a = "1", "b c" = 2 }')
  t.equal(renderValue(true), 'true')
  t.equal(renderValue(Number.POSITIVE_INFINITY), 'inf')
  t.equal(renderValue(Number.NaN), 'nan')
  t.equal(renderValue(new Date('1979-05-27T07:32:00Z')), '1979-05-27T07:32:00.000Z')
  const long = renderValue('x'.repeat(200))
  t.equal(long.length, 80)
  t.ok(long.endsWith('...'))
})

t.test('upstream tls keys apply to each server, a server overrides them, and tls_sni defaults to a host name only', async (t) => {
  const c = valid(t, LISTENER + ROUTE + `[[upstreams]]
name = "api"
tls = true
tls_verify = false
[[upstreams.servers]]
name = "byip"
address = "127.0.0.1:9001"
[[upstreams.servers]]
name = "byname"
address = "API.internal:9002"
[[upstreams.servers]]
name = "own"
address = "127.0.0.1:9003"
tls_sni = "Own.Example"
tls_verify = true
[[upstreams.servers]]
name = "plain"
address = "127.0.0.1:9004"
tls = false
`)
  t.same(c.upstreams[0].servers.map((s) => s.tls), [
    { sni: null, caFile: null, verify: false },
    { sni: 'api.internal', caFile: null, verify: false },
    { sni: 'own.example', caFile: null, verify: true },
    null,
  ])
})
