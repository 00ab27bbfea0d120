// The idle keep-alive client of the `idle` scenario: opens COUNT connections to
// 127.0.0.1:PORT, sends one GET / on each, reads the whole response, and then leaves the
// connection open and silent. Runs as its own process (the harness raises its fd limit):
//   node perf/lib/idle-client.ts PORT COUNT
// stdout, one JSON line each: {"open":N,"failed":F,"ms":T,"failures":{why:count}} once all are set up; then on every
// "report" line on stdin {"stillOpen":K}; "exit" (or stdin closing) ends it.
// Everything is bounded: connection setup by SETUP_DEADLINE_MS, each request by 10 s.

import net from 'node:net'

const port = Number(process.argv[2])
const count = Number(process.argv[3])
const CONCURRENCY = 200
const SETUP_DEADLINE_MS = 60_000
const REQUEST_TIMEOUT_MS = 10_000
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n')

if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(count) || count <= 0 || count > 20_000) {
  process.stderr.write(`idle-client: arguments ${JSON.stringify(process.argv.slice(2))} are not valid: expected PORT COUNT (COUNT ≤ 20000)\n`)
  process.exit(2)
}

const sockets: net.Socket[] = []
let stillOpen = 0
let failed = 0
/** Why connections failed: timeout, error code, "closed" before a response, or "status NNN". */
const failures: Record<string, number> = {}

function countFailure(why: string): void {
  failures[why] = (failures[why] ?? 0) + 1
}

/** One connection: resolves true once a full response has arrived and the socket is idle. */
function openOne(): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true })
    let buf = ''
    let isDone = false
    const finish = (ok: boolean, why = ''): void => {
      if (isDone) return
      isDone = true
      if (!ok) countFailure(why)
      clearTimeout(timer)
      if (ok) {
        stillOpen++
        sockets.push(sock)
        sock.on('close', () => stillOpen--)
        sock.removeAllListeners('data')
        sock.on('data', () => {}) // a proxy should not talk; ignore if it does
      } else {
        sock.destroy()
      }
      resolve(ok)
    }
    const timer = setTimeout(() => finish(false, 'timeout'), REQUEST_TIMEOUT_MS)
    sock.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message))
    sock.on('close', () => finish(false, 'closed'))
    sock.on('connect', () => sock.write(REQUEST))
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1')
      const headEnd = buf.indexOf('\r\n\r\n')
      if (headEnd < 0) return
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, headEnd))
      // chunked or close-delimited: not the keep-alive answer we expect
      if (m === null) return finish(false, 'no content-length')
      if (buf.length - headEnd - 4 >= Number(m[1])) finish(/^HTTP\/1\.1 200 /.test(buf), `status ${buf.slice(9, 12)}`)
    })
  })
}

async function main(): Promise<void> {
  const startedMs = Date.now()
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < count && Date.now() - startedMs < SETUP_DEADLINE_MS) {
      next++
      if (!(await openOne())) failed++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, lane))
  process.stdout.write(`${JSON.stringify({ open: stillOpen, failed, ms: Date.now() - startedMs, failures })}\n`)
}

let input = ''
process.stdin.on('data', (chunk: Buffer) => {
  input += chunk.toString('utf8')
  let nl: number
  while ((nl = input.indexOf('\n')) >= 0) {
    const cmd = input.slice(0, nl).trim()
    input = input.slice(nl + 1)
    if (cmd === 'report') process.stdout.write(`${JSON.stringify({ stillOpen })}\n`)
    if (cmd === 'exit') process.exit(0)
  }
})
process.stdin.on('end', () => process.exit(0))
// Never outlive the harness by much, whatever happens to stdin.
setTimeout(() => process.exit(3), 5 * 60_000).unref()

void main()
