// The command line as a user meets it: --check, --version, bad configs listing every problem
// with key path and line, and listen errors.

import t from 'tap'
import net from 'node:net'
import { runCli, writeConfig, ROOT } from './harness.ts'

t.test('--version prints the version', async (t) => {
  const r = await runCli(['--version'])
  t.equal(r.code, 0)
  t.match(r.stdout, /^portico \d+\.\d+\.\d+/)
})

t.test('the bundled conf/portico.toml passes --check', async (t) => {
  const r = await runCli(['-c', `${ROOT}conf/portico.toml`, '--check'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /valid/)
})

t.test('--check lists every problem with key path and line, exit 1', async (t) => {
  const { file } = writeConfig(`[global]
workers = 2
[[listeners]]
name = "web"
bind = "127.0.0.1:8080"
[[routes]]
name = "r"
upstream = "nope"
[[upstreams]]
name = "app"
balanse = "round_robin"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9001"
weight = 300
`)
  const r = await runCli(['-c', file, '--check'])
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`${file}:8: routes\\[0\\]\\.upstream`), 'unknown upstream, with its line')
  t.match(r.stderr, new RegExp(`${file}:11: upstreams\\[0\\]\\.balanse`), 'typo in a key, with its line')
  t.match(r.stderr, new RegExp(`${file}:15: upstreams\\[0\\]\\.servers\\[0\\]\\.weight = 300: .*0\\.\\.256`), 'weight out of range')
})

t.test('a TOML syntax error names the line', async (t) => {
  const { file } = writeConfig('[global]\nworkers = = 2\n')
  const r = await runCli(['-c', file, '--check'])
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`${file}:2`))
})

t.test('a missing file is a clear error', async (t) => {
  const r = await runCli(['-c', '/nonexistent/portico.toml'])
  t.equal(r.code, 1)
  t.match(r.stderr, /nonexistent\/portico\.toml/)
})

t.test('port already in use: clear message, exit 1', async (t) => {
  const blocker = net.createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as net.AddressInfo).port
  const { file } = writeConfig(`[[listeners]]
name = "web"
bind = "127.0.0.1:${port}"
[[routes]]
name = "r"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:9"
[log]
access = "off"
`)
  const r = await runCli(['-c', file])
  t.equal(r.code, 1)
  t.match(r.stderr, /listeners "web": bind 127\.0\.0\.1:\d+: address already in use/)
})
