// Socket files: modes (0600 admin, 0660 stats), parent directory creation, stale socket removal,
// refusal to steal a live socket or replace a non-socket file, clear errors, cleanup on close, and
// a real `socat` client as in `echo "show stat" | socat stdio UNIX-CONNECT:…`.

import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, linkSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startRuntimeSockets } from '../../../src/main/runtime/server.ts'
import { ask, HAPROXY_VERSION, makeContext, startSockets, transcript } from './fixture.ts'

const run = promisify(execFile)

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-sock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('the admin socket is mode 0600, the stats socket 0660, whatever the umask', async (t) => {
  const old = process.umask(0o000)
  try {
    const s = await startSockets()
    t.teardown(() => s.close())
    t.equal(statSync(s.admin).mode & 0o777, 0o600)
    t.equal(statSync(s.stats).mode & 0o777, 0o660)
    t.ok(statSync(s.admin).isSocket())
  } finally {
    process.umask(old)
  }
})

t.test('a missing parent directory is created; close() removes the socket files', async (t) => {
  const dir = tempDir(t)
  const admin = join(dir, 'run', 'portico', 'admin.sock')
  const sockets = await startRuntimeSockets(makeContext(), { statsSocket: null, adminSocket: admin })
  t.ok(existsSync(admin))
  t.equal(await ask(admin, 'show version'), `${HAPROXY_VERSION}\n\n`)
  await sockets.close()
  t.notOk(existsSync(admin))
  t.notOk(existsSync(join(dir, 'run', 'portico', 'stats.sock')), 'a null path starts nothing')
})

t.test('a stale socket file left by a dead process is replaced', async (t) => {
  const dir = tempDir(t)
  const admin = join(dir, 'admin.sock')
  // Make a socket file nobody listens on: bind one, keep a second link to it, let the first go.
  const first = join(dir, 'first.sock')
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(first, resolve))
  linkSync(first, admin)
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  t.ok(statSync(admin).isSocket(), 'stale socket present')
  const sockets = await startRuntimeSockets(makeContext(), { statsSocket: null, adminSocket: admin })
  t.teardown(() => sockets.close())
  t.equal(await ask(admin, 'show cli level'), 'admin\n\n')
})

t.test('a socket another process is listening on is not stolen', async (t) => {
  const dir = tempDir(t)
  const admin = join(dir, 'admin.sock')
  const other = createServer((c) => {
    c.on('error', () => {}) // our liveness probe connects and hangs up at once
    c.resume()
    c.end('other\n')
  })
  await new Promise<void>((resolve) => other.listen(admin, resolve))
  await t.rejects(startRuntimeSockets(makeContext(), { statsSocket: null, adminSocket: admin }),
    { message: `runtime socket ${admin}: another process is listening on it` })
  t.equal(await ask(admin, 'show version'), 'other\n', 'the other process keeps its socket')
  await new Promise<void>((resolve) => other.close(() => resolve()))
})

t.test('a path that is a regular file is not replaced; a path under a file is a clear error', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'not-a-socket')
  writeFileSync(file, 'keep me')
  await t.rejects(startRuntimeSockets(makeContext(), { statsSocket: file, adminSocket: null }),
    { message: `runtime socket ${file}: exists and is not a socket; refusing to replace it` })
  const under = join(file, 'admin.sock')
  await t.rejects(startRuntimeSockets(makeContext(), { statsSocket: null, adminSocket: under }),
    { message: new RegExp(`^runtime socket ${under}: cannot create its directory: `) })
  const long = join(dir, 'x'.repeat(120), 'admin.sock')
  await t.rejects(startRuntimeSockets(makeContext(), { statsSocket: null, adminSocket: long }),
    { message: /Unix sockets allow at most 107/ })
})

t.test('if the second socket fails, the first is closed again', async (t) => {
  const dir = tempDir(t)
  const stats = join(dir, 'stats.sock')
  const file = join(dir, 'admin.sock')
  writeFileSync(file, '')
  await t.rejects(startRuntimeSockets(makeContext(), { statsSocket: stats, adminSocket: file }))
  t.notOk(existsSync(stats))
})

const hasSocat = await run('socat', ['-V']).then(() => true, () => false)

t.test('socat speaks to the sockets like to HAProxy\'s', {
  skip: hasSocat ? false : 'socat is not installed (apt-get install -y socat)',
}, async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const sh = async (cmd: string, path: string): Promise<string> =>
    (await run('sh', ['-c', `echo "${cmd}" | socat stdio UNIX-CONNECT:${path}`], { timeout: 5000 })).stdout
  const stat = await sh('show stat', s.stats)
  t.ok(stat.startsWith(transcript('show-stat').reply.split('\n')[0] + '\n'))
  t.match(stat, /\nbe_app,s1,/)
  t.equal(await sh('set weight be_app/s1 50', s.stats), 'Permission denied\n\n')
  t.equal(await sh('set weight be_app/s1 50', s.admin), '\n')
  t.equal(await sh('get weight be_app/s1', s.stats), '50 (initial 100)\n\n')
  t.equal(await sh('show version;show cli level', s.stats), `${HAPROXY_VERSION}\n\nuser\n\n`)
})

t.test('the same path for both sockets is refused up front', async (t) => {
  const dir = tempDir(t)
  const p = join(dir, 'one.sock')
  await t.rejects(startRuntimeSockets(makeContext(), { statsSocket: p, adminSocket: p }),
    { message: `runtime sockets: stats_socket and admin_socket are the same path (${p})` })
  t.notOk(existsSync(p))
})

t.test('a verb that throws answers an error and logs it; the socket keeps serving', async (t) => {
  const ctx = makeContext()
  const s = await startSockets(ctx)
  t.teardown(() => s.close())
  const real = ctx.current
  ctx.current = () => {
    throw new Error('generation gone')
  }
  t.equal(await ask(s.stats, 'show stat'), 'internal error: generation gone\n\n')
  t.ok(ctx.logs.some((l) => l.msg === 'runtime api: command failed'))
  ctx.current = real
  t.equal(await ask(s.stats, 'get weight be_app/s1'), '100 (initial 100)\n\n')
})
