// Loading a config file and printing its problems (src/shared/config/load.ts), and the shipped
// conf/portico.toml: it validates, and it documents every key with its true default.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { formatProblems, loadConfig } from '../../../src/shared/config/load.ts'
import { parseToml } from '../../../src/shared/config/parse.ts'
import { CONFIG_KEYS, validate } from '../../../src/shared/config/validate.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const DEMO = path.join(ROOT, 'conf/portico.toml')

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-load-'))
t.teardown(() => fs.rmSync(DIR, { recursive: true, force: true }))

function write(name: string, text: string): string {
  const file = path.join(DIR, name)
  fs.writeFileSync(file, text)
  return file
}

const MINIMAL = `[[listeners]]
name = "web"
bind = "127.0.0.1:8080"
[[upstreams]]
name = "api"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9001"
[[routes]]
name = "all"
upstream = "api"
`

t.test('loads a valid file into a Config with its absolute path', async (t) => {
  const file = write('ok.toml', MINIMAL)
  const r = loadConfig(file)
  t.same(r.problems, [])
  t.equal(r.config?.file, file)
  t.equal(r.config?.upstreams[0].servers[0].port, 9001)
})

t.test('a missing file is one problem without a line', async (t) => {
  const file = path.join(DIR, 'nope.toml')
  const r = loadConfig(file)
  t.equal(r.config, null)
  t.same(r.problems, [{ path: '', line: 0, message: 'cannot read config file: no such file' }])
  t.equal(formatProblems(file, r.problems), `${file}: cannot read config file: no such file`)
})

t.test('a directory is one problem', async (t) => {
  const r = loadConfig(DIR)
  t.equal(r.config, null)
  t.same(r.problems, [{ path: '', line: 0, message: 'cannot read config file: is a directory' }])
})

t.test('a toml syntax error is one problem at FILE:LINE', async (t) => {
  const file = write('syntax.toml', '[global]\nworkers = 2\n\n[[listeners]\nname = "web"\n')
  const r = loadConfig(file)
  t.equal(r.config, null)
  t.equal(r.problems.length, 1)
  t.equal(r.problems[0].line, 4)
  t.match(formatProblems(file, r.problems), new RegExp(`^${file}:4: invalid toml at column \\d+: unexpected `))
})

t.test('a UTF-8 byte order mark is ignored', async (t) => {
  const file = write('bom.toml', '\ufeff' + MINIMAL)
  t.same(loadConfig(file).problems, [])
})

t.test('problems print as FILE:LINE: key.path = VALUE: message, one per line', async (t) => {
  const file = write('bad.toml', MINIMAL.replace('address = "127.0.0.1:9001"', 'address = "127.0.0.1:9001"\nweight = 300') +
    'frobnicate = 1\n')
  const r = loadConfig(file)
  t.equal(r.config, null)
  t.equal(formatProblems('conf/portico.toml', r.problems), [
    'conf/portico.toml:9: upstreams[0].servers[0].weight = 300: weight must be 0..256',
    'conf/portico.toml:13: routes[0].frobnicate = 1: unknown key "frobnicate", expected one of name, listeners, host, ' +
      'path_prefix, path, path_regex, headers, methods, upstream, request_buffering, max_body, max_buffered_body, timeouts',
  ].join('\n'))
})

t.test('formatProblems leaves out an unknown line and a missing value', async (t) => {
  t.equal(formatProblems('f.toml', [
    { path: 'listeners', line: 0, message: 'no listeners' },
    { path: 'upstreams[0].name', line: 7, message: 'missing name' },
    { path: 'global.workers', line: 0, message: 'bad', value: '0' },
  ]), 'f.toml: listeners: no listeners\nf.toml:7: upstreams[0].name: missing name\nf.toml: global.workers = 0: bad')
  t.equal(formatProblems('f.toml', []), '')
})

// ---- conf/portico.toml -----------------------------------------------------------------------

t.test('conf/portico.toml validates cleanly and is the demo setup', async (t) => {
  const r = loadConfig(DEMO)
  t.same(r.problems, [], formatProblems('conf/portico.toml', r.problems))
  const c = r.config
  if (c === null) return
  t.same(c.listeners.map((l) => [l.name, l.bind, l.tls]), [['web', '0.0.0.0:8080', null]])
  t.same(c.runtime, { statsSocket: '/tmp/portico-stats.sock', adminSocket: '/tmp/portico-admin.sock', metrics: '127.0.0.1:9901' })
  t.equal(c.upstreams.length, 1)
  const demo = c.upstreams[0]
  t.equal(demo.name, 'demo')
  t.equal(demo.balance, 'round_robin')
  t.same(demo.servers.map((s) => [s.name, s.address, s.weight]), [['s1', '127.0.0.1:9001', 100], ['s2', '127.0.0.1:9002', 100]])
  t.equal(demo.health?.path, '/health')
  t.equal(demo.health?.intervalMs, 2000)
  t.same(c.routes.map((r) => [r.name, r.upstream, r.listeners, r.host, r.pathPrefix]), [['default', 'demo', [], null, null]])
})

t.test('conf/portico.toml mentions every table and every key', async (t) => {
  const text = fs.readFileSync(DEMO, 'utf8')
  const arrays = new Set(['listeners', 'listeners.tls.certs', 'routes', 'upstreams', 'upstreams.servers'])
  for (const [table, keys] of Object.entries(CONFIG_KEYS)) {
    if (table !== '') {
      const header = arrays.has(table) ? `[[${table}]]` : `[${table}]`
      t.ok(text.includes(header), `has ${header}`)
    }
    for (const key of keys) {
      // a key that is a table itself (tls, health, servers, ...) is documented by its header
      if (table === '' || `${table}.${key}` in CONFIG_KEYS) continue
      t.match(text, new RegExp(`^#? ?${key} = `, 'm'), `documents ${table}.${key}`)
    }
  }
})

/**
 * Uncomments every "# key = value" line that shows a default: not one whose comment says
 * "(default: ...)" (those are examples) and not inside an example block (a commented-out
 * [table] header up to the next line that is not a comment).
 */
function uncommentDefaults(text: string): { text: string; count: number } {
  let inExample = false
  let count = 0
  const out = text.split('\n').map((line) => {
    if (!line.startsWith('#')) { inExample = false; return line }
    if (/^# ?\[/.test(line)) { inExample = true; return line }
    const m = /^# ?([a-z_]+ = .*)$/.exec(line)
    if (m === null || inExample || /default/.test(line.slice(line.indexOf(' = ')))) return line
    count++
    return m[1]
  })
  return { text: out.join('\n'), count }
}

t.test('the defaults conf/portico.toml shows in comments are the real defaults', async (t) => {
  const text = fs.readFileSync(DEMO, 'utf8')
  const { text: uncommented, count } = uncommentDefaults(text)
  // global 8, log 3, timeouts 8, protocols 1, accept 1, route 3, upstream 6, health 4, weight 1
  t.equal(count, 35, 'default lines uncommented')
  const before = parseToml(text)
  const after = parseToml(uncommented)
  if (!before.ok || !after.ok) throw new Error('conf/portico.toml does not parse')
  const a = validate(before.raw, DEMO, before.locate)
  const b = validate(after.raw, DEMO, after.locate)
  t.same(b.problems, [], formatProblems('conf/portico.toml (uncommented)', b.problems))
  t.same(b.config, a.config, 'same config with the defaults spelled out')
  // and the uncommenting really did set keys: one from each section
  const raw = after.raw as any
  t.equal(raw.global.max_connections, 100000)
  t.equal(raw.timeouts.tunnel_idle, '1h')
  t.equal(raw.routes[0].max_buffered_body, '1MB')
  t.equal(raw.upstreams[0].eject_max, '5m')
  t.same(raw.upstreams[0].health.expect_status, [200, 399])
  t.equal(raw.upstreams[0].servers[0].weight, 100)
})

t.test('the uncommenting helper changes the config when a documented default is wrong', async (t) => {
  // guards the test above: a wrong default in a comment must make the configs differ
  const text = fs.readFileSync(DEMO, 'utf8').replace('# keepalive = 64', '# keepalive = 65')
  const after = parseToml(uncommentDefaults(text).text)
  if (!after.ok) throw new Error('does not parse')
  t.equal(validate(after.raw, DEMO, after.locate).config?.upstreams[0].keepalive, 65)
})
