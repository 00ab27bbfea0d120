// HAProxy CLI framing on a real Unix socket, checked byte for byte against the 2.6 transcripts:
// terminators, ';' chains and escapes, non-interactive close, interactive prompt, quit, levels,
// severity output, idle timeout, oversize lines, and the per-socket session limit.

import t from 'tap'
import { createConnection } from 'node:net'
import { usageMessage, VERBS } from '../../../src/main/runtime/verbs.ts'
import { asPortico, exchange, HAPROXY_VERSION, startSockets, transcript } from './fixture.ts'

const FULL_LISTING = usageMessage(VERBS, [], false)
/** Transcripts sent line by line used 200 ms; 60 ms is ample on a local socket and keeps tests short. */
const LINE_DELAY_MS = 60

const s = await startSockets()
t.teardown(() => s.close())

/** Replays a transcript on the admin socket (all its files came from HAProxy's admin.sock). */
async function replay(name: string, opts: { lineDelayMs?: number; halfClose?: boolean } = {}): Promise<{ got: string; want: string }> {
  const { request, reply } = transcript(name)
  const r = await exchange(s.admin, name.startsWith('noninteractive') || name.startsWith('interactive') || name.startsWith('severity')
    ? request : request + '\n', opts)
  return { got: r.reply, want: asPortico(reply, FULL_LISTING) }
}

t.test('a reply is the output followed by one blank line, and the connection closes after it', async (t) => {
  const r = await exchange(s.admin, 'show version\n')
  t.equal(r.reply, `${HAPROXY_VERSION}\n\n`)
  t.notOk(r.reset)
})

for (const name of [
  'noninteractive-crlf',
  'noninteractive-escaped-semicolon',
  'noninteractive-no-trailing-newline',
  'noninteractive-permission-denied-midchain',
  'noninteractive-quit-midline',
  'noninteractive-semicolons',
  'noninteractive-two-lines-sent-at-once',
  'severity-output-number',
  'severity-output-string',
]) {
  t.test(`non-interactive session matches 2.6 byte for byte: ${name}`, async (t) => {
    const { got, want } = await replay(name)
    t.equal(got, want)
  })
}

t.test('a line sent after the reply finds the connection closed (non-interactive)', async (t) => {
  const { got, want } = await replay('noninteractive-two-lines', { lineDelayMs: LINE_DELAY_MS })
  t.equal(got, want)
  t.equal(got, `${HAPROXY_VERSION}\n\n`)
})

t.test('"prompt" after ";" turns the rest of the session interactive', async (t) => {
  const { got, want } = await replay('noninteractive-prompt-midline', { lineDelayMs: LINE_DELAY_MS })
  t.equal(got, want)
})

for (const name of [
  'interactive-prompt-basic',
  'interactive-prompt-error-no-blank-line',
  'interactive-prompt-toggle-off',
  'interactive-semicolons',
  'interactive-user-operator-levels',
]) {
  t.test(`interactive session matches 2.6 byte for byte: ${name}`, async (t) => {
    const { got, want } = await replay(name, { lineDelayMs: LINE_DELAY_MS })
    t.equal(got, want)
  })
}

t.test('a trailing ";" is an empty command and gets the full command list', async (t) => {
  const { got, want } = await replay('noninteractive-trailing-semicolon')
  t.equal(got, want)
  t.match(got, /^2\.6\.12-1\+deb12u4\n\nUnknown command\. Please enter one of the following commands only:\n/)
})

t.test('an empty or blank line gets the full command list', async (t) => {
  for (const name of ['empty-line', 'whitespace-only-line']) {
    const { got, want } = await replay(name)
    t.equal(got, want, name)
    t.ok(got.endsWith('  quit                                    : disconnect\n\n'), name)
  }
})

t.test('set timeout cli closes an idle interactive session silently after that many seconds', async (t) => {
  const started = Date.now()
  const { got, want } = await replay('interactive-set-timeout-cli', { lineDelayMs: LINE_DELAY_MS, halfClose: false })
  const elapsedMs = Date.now() - started
  t.equal(got, want)
  t.ok(elapsedMs >= 1000 && elapsedMs < 2500, `closed after ${elapsedMs} ms`)
})

t.test('set timeout rejects other timeouts and bad values with 2.6 messages', async (t) => {
  t.equal((await exchange(s.admin, 'set timeout client 5\n')).reply, "'set timeout' only supports 'cli'.\n\n")
  t.equal((await exchange(s.admin, 'set timeout cli\n')).reply, 'Expects an integer value.\n\n')
  t.equal((await exchange(s.admin, 'set timeout cli 500ms\n')).reply, 'Invalid timeout value.\n\n')
  t.equal((await exchange(s.admin, 'set timeout cli 5x\n')).reply, 'Invalid timeout value.\n\n')
  t.equal((await exchange(s.admin, 'set timeout cli 2m\n')).reply, '\n')
})

t.test('a request longer than 16384 bytes resets the connection without a reply', async (t) => {
  const r = await exchange(s.admin, 'show version ' + 'x'.repeat(20_000) + '\n')
  t.equal(r.reply, '')
  t.notOk(r.timedOut)
  const ok = await exchange(s.admin, 'get weight be_app/s1' + ' '.repeat(16_000) + '\n')
  t.equal(ok.reply, '100 (initial 100)\n\n', 'a long line under the limit is fine')
})

t.test('"operator -" and "user -" suppress the terminator (2.6 NOLF)', async (t) => {
  t.equal((await exchange(s.admin, 'operator -;show cli level\n')).reply, 'operator\n\n')
})

t.test('an idle session is closed silently after the idle timeout', async (t) => {
  const quick = await startSockets(undefined, { idleTimeoutMs: 300 })
  t.teardown(() => quick.close())
  const started = Date.now()
  const r = await exchange(quick.admin, 'prompt\n', { halfClose: false, timeoutMs: 3000 })
  const elapsedMs = Date.now() - started
  t.equal(r.reply, '\n> ')
  t.notOk(r.timedOut)
  t.ok(elapsedMs >= 250 && elapsedMs < 2000, `closed after ${elapsedMs} ms`)
})

t.test('sessions beyond the per-socket limit wait for a free slot, then run', async (t) => {
  const small = await startSockets(undefined, { maxSessions: 2 })
  t.teardown(() => small.close())
  const open = (): Promise<{ sock: ReturnType<typeof createConnection>; data: () => string }> =>
    new Promise((resolve) => {
      let buf = ''
      const sock = createConnection(small.admin, () => resolve({ sock, data: () => buf }))
      sock.on('data', (c: Buffer) => { buf += c.toString('latin1') })
      sock.on('error', () => {})
    })
  const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    return cond()
  }
  const a = await open()
  const b = await open()
  a.sock.write('prompt\n')
  b.sock.write('prompt\n')
  t.ok(await until(() => a.data() === '\n> ' && b.data() === '\n> ', 2000), 'two sessions run')
  const c = await open()
  c.sock.write('show version\n')
  t.notOk(await until(() => c.data() !== '', 300), 'the third waits')
  a.sock.write('quit\n')
  t.ok(await until(() => c.data() === `${HAPROXY_VERSION}\n\n`, 2000), 'the third runs once a slot is free')
  b.sock.destroy()
  c.sock.destroy()
})
