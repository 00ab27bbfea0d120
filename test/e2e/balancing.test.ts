// Balancing across worker threads, end to end: state in the shared cells makes 4 threads act as
// one balancer. least_conn steers away from a slow server far more than round robin does;
// weights hold across threads; consistent hashing keeps keys in place; the shared in-flight
// counts return to 0 when traffic stops.

import t from 'tap'
import http from 'node:http'
import { basicConfig, freePort, metricTotal, request, sleep, startOrigin, startPortico } from './harness.ts'
import type { Origin } from './harness.ts'


/** `n` requests from `concurrency` keep-alive clients; resolves with the statuses. */
async function load(port: number, n: number, concurrency: number, path = '/'): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
  const statuses: number[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++
      statuses.push((await request(port, { agent, path })).status)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  agent.destroy()
  return statuses
}

function slowOrigin(name: string, delayMs: number): Promise<Origin> {
  return startOrigin(name, (req, res) => {
    req.resume()
    setTimeout(() => { res.setHeader('x-server', name); res.end(name) }, delayMs)
  })
}

async function slowShare(balance: string): Promise<{ fast: number; slow: number; active: number }> {
  const fast = await slowOrigin('fast', 2)
  const slow = await slowOrigin('slow', 150)
  const metricsPort = await freePort()
  const toml = basicConfig([fast, slow], {
    upstream: `balance = "${balance}"`,
    tail: `[runtime]\nmetrics = "127.0.0.1:${metricsPort}"`,
  }).replace('workers = 2', 'workers = 4')
  const p = await startPortico(toml)
  try {
    const statuses = await load(p.port, 400, 20)
    const bad = statuses.filter((s) => s !== 200).length
    if (bad > 0) throw new Error(`${bad} requests failed`)
    await sleep(100)
    const sum = await metricTotal(metricsPort, 'portico_server_active_requests')
    return { fast: fast.requests.length, slow: slow.requests.length, active: sum }
  } finally {
    await p.stop()
    await fast.close()
    await slow.close()
  }
}

t.test('least_conn sends far fewer requests to a slow server than round robin, with 4 threads', async (t) => {
  const rr = await slowShare('round_robin')
  const lc = await slowShare('least_conn')
  t.ok(Math.abs(rr.slow - rr.fast) <= 4, `round robin splits evenly: fast ${rr.fast}, slow ${rr.slow}`)
  t.ok(lc.slow * 2.5 < rr.slow, `least_conn gives the slow server a small share: ${lc.slow} vs ${rr.slow} under round robin`)
  t.equal(rr.active, 0, 'shared in-flight counts back to 0 (round robin)')
  t.equal(lc.active, 0, 'shared in-flight counts back to 0 (least_conn)')
})

t.test('weights 3:1 hold within 2% over 10,000 requests spread over 4 threads', async (t) => {
  const a = await startOrigin('a')
  const b = await startOrigin('b')
  const toml = basicConfig([a, b]).replace('workers = 2', 'workers = 4')
    .replace(`address = "127.0.0.1:${a.port}"`, `address = "127.0.0.1:${a.port}"\nweight = 3`)
    .replace(`address = "127.0.0.1:${b.port}"`, `address = "127.0.0.1:${b.port}"\nweight = 1`)
  const p = await startPortico(toml)
  t.teardown(async () => { await p.stop(); await a.close(); await b.close() })
  // Many connections so that all 4 threads carry traffic.
  const statuses = await load(p.port, 10_000, 32)
  t.equal(statuses.filter((s) => s === 200).length, 10_000)
  const share = a.requests.length / 10_000
  t.ok(Math.abs(share - 0.75) <= 0.02, `a got ${(share * 100).toFixed(2)}% (want 75% ± 2)`)
})

t.test('hash: a key sticks to one server across threads and restarts; removing 1 of 5 moves ~1/5', async (t) => {
  const origins: Origin[] = []
  for (let i = 0; i < 5; i++) origins.push(await startOrigin(`h${i}`))
  t.teardown(async () => { for (const o of origins) await o.close() })
  const keys = Array.from({ length: 150 }, (_, i) => `user-${i}`)
  const owners = async (servers: Origin[]): Promise<Map<string, string>> => {
    const p = await startPortico(basicConfig(servers, { upstream: 'balance = "hash"\nhash_key = "header:x-user-id"' }).replace('workers = 2', 'workers = 4'))
    try {
      const map = new Map<string, string>()
      for (const key of keys) {
        // Twice, on fresh connections (likely other threads): the same server both times.
        const r1 = await request(p.port, { headers: { 'x-user-id': key } })
        const r2 = await request(p.port, { headers: { 'x-user-id': key } })
        if (r1.headers['x-server'] !== r2.headers['x-server']) throw new Error(`key ${key} moved between two requests`)
        map.set(key, String(r1.headers['x-server']))
      }
      return map
    } finally {
      await p.stop()
    }
  }
  const first = await owners(origins)
  const again = await owners(origins)
  t.same([...again], [...first], 'same mapping after a restart')
  const without = await owners(origins.filter((o) => o.name !== 'h2'))
  let moved = 0
  let movedOthers = 0
  for (const key of keys) {
    if (first.get(key) !== without.get(key)) {
      moved++
      if (first.get(key) !== 'h2') movedOthers++
    }
  }
  t.ok(moved > keys.length * 0.1 && moved < keys.length * 0.3, `${moved} of ${keys.length} keys moved (~1/5)`)
  // Taking a server out of the config rebuilds the Maglev table for 4 servers: its own keys move,
  // and Maglev's near-minimal disruption may move a few more (a server that only goes ineligible
  // moves exactly its own keys: test/worker/balance/hash.test.ts).
  t.ok(movedOthers <= keys.length * 0.05, `${movedOthers} keys of the remaining servers moved (at most 5%)`)
})
