// TOML parsing and the key-path → line locator (src/shared/config/parse.ts).

import t from 'tap'
import { buildLocator, indexPath, keyPath, parseToml } from '../../../src/shared/config/parse.ts'

// The source below, with its line numbers; each expectation names the line by number.
const SOURCE = [
  /*  1 */ '# a comment',
  /*  2 */ '[global]',
  /*  3 */ 'workers = 4 # trailing comment',
  /*  4 */ '',
  /*  5 */ '[[listeners]]',
  /*  6 */ 'name = "web"',
  /*  7 */ '',
  /*  8 */ '[[listeners]]',
  /*  9 */ 'name = "tls"',
  /* 10 */ '[listeners.tls]',
  /* 11 */ 'min_version = "TLSv1.3"',
  /* 12 */ '[[listeners.tls.certs]]',
  /* 13 */ 'cert = "a.pem"',
  /* 14 */ '[[listeners.tls.certs]]',
  /* 15 */ "cert = 'b.pem'",
  /* 16 */ 'server_names = [',
  /* 17 */ '  "b.example.com", # comment inside an array',
  /* 18 */ '  "*.b.example.com",',
  /* 19 */ ']',
  /* 20 */ '[[routes]]',
  /* 21 */ 'name = "r0"',
  /* 22 */ '[[routes]]',
  /* 23 */ 'description = """',
  /* 24 */ 'name = "not a key: inside a multi-line string"',
  /* 25 */ '[[routes]] also not a header',
  /* 26 */ '"""',
  /* 27 */ 'name = "r1"',
  /* 28 */ 'headers = { "x-canary" = "1", x-b = { c = 2 } }',
  /* 29 */ 'limits.body.max = "1s"',
  /* 30 */ '[routes.timeouts]',
  /* 31 */ 'client_idle = "5s"',
  /* 32 */ '[[upstreams]]',
  /* 33 */ 'name = "u0"',
  /* 34 */ '[[upstreams.servers]]',
  /* 35 */ 'name = "s0"',
  /* 36 */ '[[upstreams]]',
  /* 37 */ 'name = "u1"',
  /* 38 */ "literal = '''",
  /* 39 */ 'x = 1',
  /* 40 */ "'''",
  /* 41 */ '[upstreams.health]',
  /* 42 */ 'expect_status = [200,',
  /* 43 */ '  399]',
  /* 44 */ '[[upstreams.servers]]',
  /* 45 */ 'name = "s0"',
  /* 46 */ '[[upstreams.servers]]',
  /* 47 */ 'name = "s1"',
  /* 48 */ '[[upstreams.servers]]',
  /* 49 */ '"name" = "s2"',
  /* 50 */ 'weight = 300',
  /* 51 */ 'servers2 = [ { name = "i0" },',
  /* 52 */ '  { name = "i1", address = "x" } ]',
  /* 53 */ '"a.b" = 1',
  /* 54 */ 'when = 1979-05-27 07:32:00Z',
  /* 55 */ 'after = 2',
].join('\n')

t.test('the fixture is valid toml with the structure the locator assumes', async (t) => {
  const r = parseToml(SOURCE)
  if (!r.ok) throw new Error(r.problem.message)
  const raw = r.raw as any
  t.equal(raw.listeners[1].tls.certs[1].server_names[1], '*.b.example.com')
  t.equal(raw.routes[1].name, 'r1')
  t.equal(raw.routes[1].timeouts.client_idle, '5s')
  t.equal(raw.routes[1].limits.body.max, '1s')
  t.equal(raw.upstreams[1].servers[2].weight, 300)
  t.equal(raw.upstreams[1].servers[2].servers2[1].address, 'x')
})

t.test('locates keys under [table] and [[array-of-tables]] headers, counting each array per parent', async (t) => {
  const locate = buildLocator(SOURCE)
  t.equal(locate('global'), 2)
  t.equal(locate('global.workers'), 3)
  t.equal(locate('listeners'), 5)
  t.equal(locate('listeners[0]'), 5)
  t.equal(locate('listeners[0].name'), 6)
  t.equal(locate('listeners[1]'), 8)
  t.equal(locate('listeners[1].name'), 9)
  t.equal(locate('listeners[1].tls'), 10)
  t.equal(locate('listeners[1].tls.min_version'), 11)
  t.equal(locate('listeners[1].tls.certs[0]'), 12)
  t.equal(locate('listeners[1].tls.certs[0].cert'), 13)
  t.equal(locate('listeners[1].tls.certs[1].cert'), 15)
  t.equal(locate('upstreams[0].name'), 33)
  t.equal(locate('upstreams[0].servers[0].name'), 35)
  t.equal(locate('upstreams[1].name'), 37)
  t.equal(locate('upstreams[1].health'), 41)
  t.equal(locate('upstreams[1].servers[0].name'), 45, 'the server count restarts for each upstream')
  t.equal(locate('upstreams[1].servers[1].name'), 47)
  t.equal(locate('upstreams[1].servers[2].name'), 49, 'quoted key')
  t.equal(locate('upstreams[1].servers[2].weight'), 50)
})

t.test('skips multi-line strings, whose content looks like keys and headers', async (t) => {
  const locate = buildLocator(SOURCE)
  t.equal(locate('routes[1]'), 22)
  t.equal(locate('routes[1].description'), 23)
  t.equal(locate('routes[1].name'), 27)
  t.equal(locate('routes[2]'), 20, 'a header inside a string is not a header: routes[2] falls back to routes')
  t.equal(locate('upstreams[1].literal'), 38)
  t.equal(locate('upstreams[1].x'), 36, 'a key inside a literal string is not a key; falls back to the table')
})

t.test('locates array elements, multi-line arrays and inline tables', async (t) => {
  const locate = buildLocator(SOURCE)
  t.equal(locate('listeners[1].tls.certs[1].server_names'), 16)
  t.equal(locate('listeners[1].tls.certs[1].server_names[0]'), 17)
  t.equal(locate('listeners[1].tls.certs[1].server_names[1]'), 18)
  t.equal(locate('upstreams[1].health.expect_status[0]'), 42)
  t.equal(locate('upstreams[1].health.expect_status[1]'), 43)
  t.equal(locate('routes[1].headers'), 28)
  t.equal(locate('routes[1].headers.x-canary'), 28)
  t.equal(locate('routes[1].headers.x-b.c'), 28)
  t.equal(locate('upstreams[1].servers[2].servers2[0].name'), 51)
  t.equal(locate('upstreams[1].servers[2].servers2[1].address'), 52)
})

t.test('locates dotted keys and tables that extend them', async (t) => {
  const locate = buildLocator(SOURCE)
  t.equal(locate('routes[1].limits'), 29)
  t.equal(locate('routes[1].limits.body'), 29)
  t.equal(locate('routes[1].limits.body.max'), 29)
  t.equal(locate('routes[1].timeouts'), 30)
  t.equal(locate('routes[1].timeouts.client_idle'), 31)
})

t.test('quoted keys with dots stay one segment; values with spaces do not confuse the scanner', async (t) => {
  const locate = buildLocator(SOURCE)
  t.equal(locate(keyPath('upstreams[1].servers[2]', 'a.b')), 53)
  t.equal(keyPath('upstreams[1].servers[2]', 'a.b'), 'upstreams[1].servers[2]."a.b"')
  t.equal(locate('upstreams[1].servers[2].when'), 54)
  t.equal(locate('upstreams[1].servers[2].after'), 55)
})

t.test('an unknown path falls back to its nearest located ancestor, else 0', async (t) => {
  const locate = buildLocator(SOURCE)
  t.equal(locate('upstreams[1].servers[2].address'), 48)
  t.equal(locate('upstreams[1].health.rise'), 41)
  t.equal(locate('listeners[1].tls.certs[0].key'), 12)
  t.equal(locate('log.level'), 0)
  t.equal(locate('runtime'), 0)
  t.equal(locate(''), 0)
  t.equal(locate(`${keyPath('routes[1].headers', 'x.y')}`), 28)
})

t.test('keyPath quotes keys that are not bare; indexPath appends an index', async (t) => {
  t.equal(keyPath('', 'global'), 'global')
  t.equal(keyPath('routes[0].headers', 'x-canary'), 'routes[0].headers.x-canary')
  t.equal(keyPath('routes[0].headers', 'bad name'), 'routes[0].headers."bad name"')
  t.equal(indexPath('upstreams', 3), 'upstreams[3]')
})

t.test('CRLF line endings and tabs count lines the same way', async (t) => {
  const src = '[global]\r\n\tworkers = 2\r\n\r\n[[listeners]]\r\nname = "a"\r\n'
  const r = parseToml(src)
  t.ok(r.ok)
  const locate = buildLocator(src)
  t.equal(locate('global.workers'), 2)
  t.equal(locate('listeners[0].name'), 5)
})

t.test('a syntax error is one problem at the parser line, in lowercase, without the parser grammar dump', async (t) => {
  const r = parseToml('[global]\nworkers = 2\nmax_connections = \n')
  t.equal(r.ok, false)
  if (r.ok) return
  t.same(r.problem, { path: '', line: 3, message: 'invalid toml at column 19: unexpected end of line' })
})

t.test('an unterminated string is reported on its line', async (t) => {
  const r = parseToml('a = 1\nb = "open\n')
  t.equal(r.ok, false)
  if (r.ok) return
  t.equal(r.problem.line, 2)
  t.match(r.problem.message, /^invalid toml at column \d+: unexpected /)
})

t.test('a redefined key or table is reported on the line of the second definition', async (t) => {
  const r = parseToml('[global]\nworkers = 2\n\n[global]\nuser = "x"\n')
  t.equal(r.ok, false)
  if (r.ok) return
  t.equal(r.problem.line, 4)
  t.match(r.problem.message, /^invalid toml at column 1: cannot redefine existing key 'global'$/)
})

t.test('a key written twice is reported on its second line', async (t) => {
  const r = parseToml('[[upstreams]]\nname = "a"\nname = "b"\n')
  t.equal(r.ok, false)
  if (r.ok) return
  t.equal(r.problem.line, 3)
})

t.test('the locator never hangs or throws on text the parser would refuse', async (t) => {
  const junk = ['[', '[[', '"', '"""', "'''", 'a = [', 'a = {', '= 1', 'a.', '[a.', '\\', 'a = """\\', '[[a]]]]', '}}}', ']]]']
  for (const src of junk) {
    const locate = buildLocator(src)
    t.type(locate('a'), 'number', `survives ${JSON.stringify(src)}`)
  }
})
