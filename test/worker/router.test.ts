// Routing rules (worker/router.ts): first match in file order by listener, host, path, headers
// and method; and the small request helpers it exports.

import t from 'tap'
import { Router, cookieValue, hostWithoutPort, targetPath } from '../../src/worker/router.ts'
import type { RouteConfig } from '../../src/shared/config/types.ts'

function route(name: string, over: Partial<RouteConfig>): RouteConfig {
  return {
    name, listeners: [], host: null, pathPrefix: null, path: null, pathRegex: null, headers: {}, methods: [],
    upstream: 'app', requestBuffering: false, maxBodyBytes: 1e9, maxBufferedBodyBytes: 1 << 20,
    timeouts: { clientHeaderMs: 1, clientIdleMs: 1, upstreamConnectMs: 1, upstreamResponseMs: 1, upstreamIdleMs: 1, queueMs: 1, tunnelIdleMs: 1, clientSendMs: 1 },
    ...over,
  }
}

const none = (_name: string): string | null => null

t.test('first match in file order; every condition must hold', async (t) => {
  const r = new Router([
    route('admin', { listeners: ['internal'], pathPrefix: '/admin' }),
    route('api', { host: 'api.example.com', pathPrefix: '/v1/', methods: ['GET', 'POST'] }),
    route('wild', { host: '*.example.com' }),
    route('exact', { path: '/health' }),
    route('regex', { pathRegex: '^/v[0-9]+/' }),
    route('canary', { headers: { 'x-canary': '1' } }),
  ], ['web', 'internal'], ['app'])
  const name = (listener: number, host: string | null, path: string, method = "GET", header: (h: string) => string | null = none) =>
    r.match(listener, host, path, method, header)?.config.name ?? null
  t.equal(name(1, null, '/admin/x'), 'admin', 'listener-restricted route on its listener')
  t.equal(name(0, null, '/admin/x'), null, 'not on another listener')
  t.equal(name(0, 'api.example.com', '/v1/users'), 'api')
  t.equal(name(0, 'api.example.com', '/v1/users', 'DELETE'), 'wild', 'method mismatch falls through to the next match')
  t.equal(name(0, 'x.example.com', '/'), 'wild')
  t.equal(name(0, 'example.com', '/'), null, 'a wildcard does not match the bare domain')
  t.equal(name(0, null, '/health'), 'exact')
  t.equal(name(0, null, '/health/more'), null)
  t.equal(name(0, null, '/v2/x'), 'regex')
  t.equal(name(0, null, '/x', 'GET', (h) => (h === 'x-canary' ? '1' : null)), 'canary')
  t.equal(name(0, null, '/x', 'GET', (h) => (h === 'x-canary' ? '2' : null)), null)
})

t.test('helpers: host without port, path without query, cookie values', async (t) => {
  t.equal(hostWithoutPort('a.com:8080'), 'a.com')
  t.equal(hostWithoutPort('[::1]:80'), '[::1]')
  t.equal(hostWithoutPort('a.com'), 'a.com')
  t.equal(targetPath('/p?q=1'), '/p')
  t.equal(targetPath('http://h:1/p/q?x'), '/p/q')
  t.equal(targetPath('http://h'), '/')
  t.equal(cookieValue('a=1; Session=xyz ; b=2', 'session'), 'xyz')
  t.equal(cookieValue('a=1', 'session'), null)
  t.equal(cookieValue(null, 'session'), null)
})
