// `node perf/h2-floor.ts [--seconds 5] [--rounds 3]`: what node:http2 costs by itself, next to
// what portico and HAProxy cost to proxy the same h2 requests. Three targets, interleaved, each
// under `h2load -c10 -m10` over h2c (prior knowledge), CPU split into user and kernel time:
//   - HAProxy (nbthread 1) proxying to the upstream nginx over HTTP/1.1 keep-alive;
//   - portico (workers = 1, as bin/portico runs it) doing the same;
//   - a bare node:http2 server on the same Node that answers every stream with the same 64-byte
//     body itself: no upstream, no routing. Its cost per request is a floor no proxy built on
//     node:http2 goes under, whatever it does with the request.
// Upstream: the bench's nginx on 127.0.0.1. Only loopback; everything started is stopped.
// This file is also the bare server: `node perf/h2-floor.ts --serve PORT`.

import http2 from 'node:http2'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { flagValue } from './lib/args.ts'
import { SMALL_BODY, toolPorticoToml, upstreamNginxConf } from './lib/configs.ts'
import { ensureTools } from './lib/install.ts'
import { parseH2load } from './lib/load.ts'
import { freePort, installCleanup, runBounded, sleep, startProc, stopAll, treeCpuSplit } from './lib/procs.ts'

function arg(name: string, fallback: string): string {
  return flagValue(process.argv, name, fallback)
}

/** The bare server: one fixed response per stream, from node:http2 alone. */
function serve(port: number): void {
  const body = Buffer.from(SMALL_BODY)
  const headers = { ':status': 200, 'content-type': 'text/plain', 'content-length': String(body.length) }
  const server = http2.createServer({ settings: { maxConcurrentStreams: 128 } })
  server.on('stream', (stream: http2.ServerHttp2Stream) => {
    stream.on('error', () => { /* a reset stream: nothing to do */ })
    stream.respond(headers)
    stream.end(body)
  })
  server.listen(port, '127.0.0.1')
}

interface Row { target: string; requests: number; user: number; sys: number }

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '5'))
  const rounds = Number(arg('rounds', '3'))
  if (!(seconds > 0 && seconds <= 60) || !(Number.isInteger(rounds) && rounds > 0 && rounds <= 10)) {
    throw new Error('--seconds must be in (0, 60] and --rounds an integer in [1, 10]')
  }
  ensureTools(['h2load', 'nginx', 'haproxy'], (line) => process.stderr.write(line + '\n'))
  installCleanup()
  const dir = mkdtempSync(join(tmpdir(), 'portico-h2floor-'))
  const www = join(dir, 'www')
  mkdirSync(www)
  const [upstreamPort, haproxyPort, porticoPort, barePort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  writeFileSync(join(dir, 'upstream.conf'), upstreamNginxConf({ port: upstreamPort, dir, wwwDir: www }))
  startProc('nginx', ['nginx', '-p', dir, '-e', join(dir, 'upstream-error.log'), '-c', join(dir, 'upstream.conf')])
  writeFileSync(join(dir, 'haproxy.cfg'), `global\n  nbthread 1\n  maxconn 5000\ndefaults\n  mode http\n  timeout connect 5s\n` +
    `  timeout client 60s\n  timeout server 60s\n  http-reuse always\nfrontend fe\n  bind 127.0.0.1:${haproxyPort} proto h2\n` +
    `  default_backend be\nbackend be\n  server s1 127.0.0.1:${upstreamPort} maxconn 1000\n`)
  writeFileSync(join(dir, 'portico.toml'), toolPorticoToml({ port: porticoPort, upstreamPort, protocol: 'h2c', workers: 1, accept: 'main' }))
  const targets = [
    { name: 'haproxy (proxy)', port: haproxyPort, proc: startProc('haproxy', ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')]) },
    { name: 'portico (proxy)', port: porticoPort, proc: startProc('portico', [fileURLToPath(new URL('../bin/portico', import.meta.url)), '-c', join(dir, 'portico.toml')]) },
    { name: 'bare node:http2 server', port: barePort, proc: startProc('bare', [process.execPath, '--max-semi-space-size=4', fileURLToPath(import.meta.url), '--serve', String(barePort)]) },
  ]
  await sleep(3000)
  const rows: Row[] = []
  for (let round = 1; round <= rounds; round++) {
    for (const t of targets) {
      const url = `http://127.0.0.1:${t.port}/`
      await runBounded(['h2load', '-c10', '-m10', '-D', '1', url], 30_000) // warm-up
      const before = treeCpuSplit(t.proc.child.pid as number)
      const run = await runBounded(['h2load', '-c10', '-m10', '-D', String(seconds), url], (seconds + 30) * 1000)
      const after = treeCpuSplit(t.proc.child.pid as number)
      const figures = parseH2load(run.stdout)
      if (typeof figures === 'string' || figures.errors > 0 || figures.requests === 0) {
        throw new Error(`${t.name}: h2load failed (${typeof figures === 'string' ? figures : `${figures.errors} errors`}): ${run.stdout.slice(-300)}`)
      }
      rows.push({ target: t.name, requests: figures.requests, user: after.user - before.user, sys: after.sys - before.sys })
      process.stderr.write(`round ${round} ${t.name}: ${figures.requests} requests\n`)
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const perReq = (target: string, pick: (r: Row) => number): number => median(rows.filter((r) => r.target === target).map((r) => (pick(r) / r.requests) * 1e6))
  const haproxyTotal = perReq('haproxy (proxy)', (r) => r.user + r.sys)
  process.stdout.write(`\nh2load -c10 -m10 over h2c, ${seconds} s × ${rounds} rounds, medians (CPU µs per request):\n\n`)
  process.stdout.write('| target | user µs/req | kernel µs/req | total µs/req | ÷ HAProxy |\n|---|--:|--:|--:|--:|\n')
  for (const t of targets) {
    const total = perReq(t.name, (r) => r.user + r.sys)
    process.stdout.write(`| ${t.name} | ${perReq(t.name, (r) => r.user).toFixed(1)} | ${perReq(t.name, (r) => r.sys).toFixed(1)} | ${total.toFixed(1)} | ${(total / haproxyTotal).toFixed(2)}× |\n`)
  }
  await stopAll()
}

if (process.argv[2] === '--serve') serve(Number(process.argv[3]))
else await main()
