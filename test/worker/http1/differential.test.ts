// Differential fuzzing of the request and response parsers and the chunked framer against llhttp (Node's own HTTP
// parser), on fixed seeds so a failure reproduces. The engine, the generator and the list of
// classes where portico is deliberately stricter than llhttp are in tools/fuzz-http1.ts, which
// also runs long campaigns by hand: `node tools/fuzz-http1.ts 1000000 <seed>`.

import t from 'tap'
import { Llhttp, compare, loadLlhttp, runDifferential } from '../../../tools/fuzz-http1.ts'
import type { Kind } from '../../../tools/fuzz-http1.ts'

/** Request cases per seed; two seeds plus responses take 2-3 s on a shared 2-core machine. */
const CASES_PER_SEED = Number(process.env.HTTP1_FUZZ_CASES ?? 15_000)
/** Response cases (one seed): responses share the field and body code with requests. */
const RESPONSE_CASES = Number(process.env.HTTP1_FUZZ_RESPONSE_CASES ?? 10_000)
const SEEDS = [1, 0x5eed]
/** Per seed: stop generating past this, whatever the count, so a loaded machine can't hang CI. */
const BUDGET_MS = 10_000
/** Fewer cases than this in the budget means the run says too little to pass. */
const MIN_CASES = 1000

t.test('llhttp is reachable through node:_http_common', async (t) => {
  t.ok(loadLlhttp(), 'HTTPParser binding present (fuzz-http1.ts needs another way in if this fails)')
})

const binding = loadLlhttp()

const RUNS: { kind: Kind; seed: number; cases: number }[] = [
  ...SEEDS.map((seed) => ({ kind: 'request' as const, seed, cases: CASES_PER_SEED })),
  { kind: 'response', seed: 7, cases: RESPONSE_CASES },
]

for (const { kind, seed, cases } of RUNS) {
  t.test(`whenever llhttp rejects a ${kind} portico rejects it, and accepted ones frame identically (seed ${seed})`, async (t) => {
    if (binding === null) return t.fail('no llhttp binding')
    const stats = runDifferential(binding, seed, cases, Date.now() + BUDGET_MS, kind)
    for (const m of stats.mismatches.slice(0, 10)) t.fail(`${m.problem}: ${JSON.stringify(m.raw)}`)
    t.equal(stats.mismatches.length, 0, `${stats.cases} cases: ${stats.bothAccept} both accept, ${stats.bothReject} both reject, ${stats.stricter} stricter`)
    t.ok(stats.cases >= Math.min(MIN_CASES, cases), `ran ${stats.cases} of ${cases} cases within ${BUDGET_MS} ms`)
    // A generator that drifted into producing only garbage (or only clean requests) would pass
    // without testing anything: both outcomes must be well represented.
    t.ok(stats.bothAccept > stats.cases / 20, `${stats.bothAccept} cases accepted by both`)
    t.ok(stats.bothReject > stats.cases / 20, `${stats.bothReject} cases rejected by both`)
  })
}

t.test('around the 16 KiB head limit and past 32 fields, portico never accepts what llhttp refuses', async (t) => {
  if (binding === null) return t.fail('no llhttp binding')
  const ll = new Llhttp(binding)
  for (const size of [16000, 16383, 16384, 16385, 16400, 17000, 20000]) {
    const req = 'GET / HTTP/1.1\r\nHost: a\r\nX: '
    const res = 'HTTP/1.1 200 OK\r\nX: '
    t.match(compare(ll, req + 'v'.repeat(size - req.length - 4) + '\r\n\r\n', 9), /^(both-accept|both-reject|stricter)$/, `request head of ${size} bytes`)
    t.match(compare(ll, res + 'v'.repeat(size - res.length - 4) + '\r\n\r\n', 9, 'response'), /^(both-accept|both-reject|stricter)$/, `response head of ${size} bytes`)
  }
  t.equal(compare(ll, 'GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'v'.repeat(16384) + '\r\n\r\n', 9), 'both-reject')
  let fields = ''
  for (let i = 0; i < 99; i++) fields += `X-${i}: ${i}\r\n`
  t.equal(compare(ll, 'POST / HTTP/1.1\r\nHost: a\r\n' + fields + 'Content-Length: 2\r\n\r\nok', 30), 'stricter', '101 fields: over maxHeaders')
  t.equal(compare(ll, 'POST / HTTP/1.1\r\nHost: a\r\n' + fields.slice(0, -'X-98: 98\r\n'.length) + 'Content-Length: 2\r\n\r\nok', 30), 'both-accept', '100 fields, llhttp reports them in two batches')
})
