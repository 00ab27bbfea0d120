// The standalone binary: `npm run build` (tools/build-sea.ts) makes dist/portico; a copy of it,
// alone in a directory and run with no node on PATH and no node_modules anywhere near, serves
// traffic through its worker threads, reloads (new threads load the extracted worker bundle
// again), stops gracefully and removes what it extracted. As root it also drops to nobody first.

import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, freePort, request, sleep, startOrigin } from './harness.ts'
import type { Origin } from './harness.ts'

// Each test starts a process and waits for its threads (the binary test builds it first).
t.setTimeout(300_000)

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

function config(port: number, a: Origin, route: string): string {
  return `
[global]
workers = 2
drain_timeout = "5s"
${isRoot ? 'user = "nobody"\ngroup = "nogroup"' : ''}
[log]
access = "off"
[[listeners]]
name = "web"
bind = "127.0.0.1:${port}"
[[routes]]
name = "r"
path_prefix = "${route}"
upstream = "app"
[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${a.port}"
`
}

t.test('npm run build makes dist/portico, which serves, reloads and stops with no node installed', async (t) => {
  const started = Date.now()
  execFileSync(process.execPath, [join(ROOT, 'tools/build-sea.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 })
  t.comment(`build took ${Date.now() - started}ms`)
  t.ok(existsSync(join(ROOT, 'dist/portico')), 'dist/portico exists')

  // A directory holding only the binary and its config; readable by nobody for the reload.
  const dir = mkdtempSync(join(tmpdir(), 'portico-bin-'))
  const tmp = join(dir, 'tmp')
  mkdirSync(tmp)
  chmodSync(dir, 0o755)
  chmodSync(tmp, 0o1777)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const binary = join(dir, 'portico')
  copyFileSync(join(ROOT, 'dist/portico'), binary)
  chmodSync(binary, 0o755)
  const emptyBin = join(dir, 'bin')
  mkdirSync(emptyBin)
  // No node on PATH, nothing inherited: HOME and TMPDIR only.
  const env = { PATH: emptyBin, HOME: dir, TMPDIR: tmp }

  const version = execFileSync(binary, ['--version'], { env, cwd: dir, encoding: 'utf8' })
  t.match(version, /^portico \d+\.\d+\.\d+ \(node 26\./, `--version: ${version.trim()}`)

  const a = await startOrigin('s1')
  t.teardown(() => a.close())
  const port = await freePort()
  const file = join(dir, 'portico.toml')
  writeFileSync(file, config(port, a, '/one/'), { mode: 0o644 })
  const proc = spawn(binary, ['-c', file], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => { stderr += d })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  t.teardown(async () => { if (proc.exitCode === null) proc.kill('SIGKILL'); await exited })
  const waitLog = async (re: RegExp, what: string): Promise<void> => {
    for (let i = 0; i < 300 && !re.test(stderr); i++) {
      if (proc.exitCode !== null) break
      await sleep(50)
    }
    if (!re.test(stderr)) throw new Error(`no ${what} in the binary's log:\n${stderr}`)
  }
  await waitLog(/"event":"started"/, 'start')
  const extracted = readdirSync(tmp).filter((n) => n.startsWith(`portico-${proc.pid}-`))
  t.equal(extracted.length, 1, `the worker files are extracted to one private directory (${extracted})`)

  const r = await request(port, { path: '/one/x' })
  t.equal(r.status, 200, 'a request through the binary is answered')
  t.equal(r.headers['x-server'], 's1')
  t.equal(r.text, 's1 GET /one/x')

  writeFileSync(file, config(port, a, '/two/'))
  proc.kill('SIGHUP')
  await waitLog(/"event":"reloaded"/, 'reload')
  t.equal((await request(port, { path: '/two/x' })).status, 200, 'after a reload, new threads serve the new route')
  t.equal((await request(port, { path: '/one/x' })).status, 404, 'and the old route is gone')

  proc.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM: exit 0')
  t.same(readdirSync(tmp).filter((n) => n.startsWith(`portico-${proc.pid}-`)), [], 'the extracted files are removed on exit')
})
