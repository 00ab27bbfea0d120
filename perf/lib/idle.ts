// The `idle` scenario: memory per idle keep-alive connection. Starts idle-client.ts against a
// proxy, which holds N connections open after one request each, and compares the proxy's RSS
// before and after. Runs on the harness main thread.

import { fileURLToPath } from 'node:url'
import type { Proc } from './procs.ts'
import { sleep, startProc, stopProc, treeRssBytes } from './procs.ts'

export interface IdleResult {
  target: string
  asked: number
  opened: number
  failed: number
  /** Why the failed ones failed: "timeout", "ECONNRESET", "closed", "status 503", … */
  failures: Record<string, number>
  /** Connections the proxy still held when RSS was read. */
  stillOpen: number
  setupMs: number
  rssBeforeBytes: number
  rssAfterBytes: number
  /** (after − before) / stillOpen. */
  bytesPerConn: number
  /** RSS after REST_MS more of silence (portico's idle GC runs by then: src/shared/idle-gc.ts). */
  rssRestBytes: number
  /** (at rest − before) / stillOpen. */
  bytesPerConnRest: number
  failure: string | null
}

/**
 * How long the connections stay silent before the second reading: longer than portico's idle GC
 * needs to notice a quiet thread (6 s of quiet, checked every 2 s).
 */
const REST_MS = 10_000

/** Resolves the next JSON line the client prints, or null after `timeoutMs` or its exit. */
// The client prints flat numbers, plus `failures` on the setup line.
type ClientLine = Record<string, number> & { failures?: Record<string, number> }

function nextLine(proc: Proc, timeoutMs: number): Promise<ClientLine | null> {
  return new Promise((resolve) => {
    let buf = ''
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      done(JSON.parse(buf.slice(0, nl)) as ClientLine)
    }
    const done = (v: ClientLine | null): void => {
      clearTimeout(timer)
      proc.child.stdout?.off('data', onData)
      resolve(v)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    proc.child.stdout?.on('data', onData)
    void proc.exited.then(() => done(null))
  })
}

/** `settleMs` scales the pauses that let RSS settle (1000 for full runs; --quick uses less). */
export async function measureIdle(target: string, proxyPid: number, port: number, count: number, settleMs = 1000): Promise<IdleResult> {
  const result: IdleResult = {
    target,
    asked: count,
    opened: 0,
    failed: 0,
    failures: {},
    stillOpen: 0,
    setupMs: 0,
    rssBeforeBytes: 0,
    rssAfterBytes: 0,
    bytesPerConn: 0,
    rssRestBytes: 0,
    bytesPerConnRest: 0,
    failure: null,
  }
  // Let the proxy settle (a GC'd runtime shrinks after the load runs) and take the lower reading.
  await sleep(settleMs)
  result.rssBeforeBytes = Math.min(treeRssBytes(proxyPid), (await sleep(settleMs / 2), treeRssBytes(proxyPid)))
  const client = startProc(`idle client → ${target}`, [process.execPath, fileURLToPath(new URL('./idle-client.ts', import.meta.url)), String(port), String(count)], {
    isStdinPipe: true,
  })
  try {
    const setup = await nextLine(client, 90_000)
    if (setup === null) {
      result.failure = `idle client gave no result: ${client.describeExit()} ${client.tail(4)}`
      return result
    }
    result.opened = setup.open
    result.failed = setup.failed
    result.failures = setup.failures ?? {}
    result.setupMs = setup.ms
    // Give the proxy a moment to finish its per-connection work, then read RSS twice and
    // keep the higher (memory is what the connections hold at rest).
    await sleep(settleMs * 1.5)
    const a = treeRssBytes(proxyPid)
    await sleep(settleMs / 2)
    result.rssAfterBytes = Math.max(a, treeRssBytes(proxyPid))
    // And once the connections have been silent for a while: what a process keeps at rest.
    await sleep(REST_MS)
    result.rssRestBytes = treeRssBytes(proxyPid)
    client.child.stdin?.write('report\n')
    const report = await nextLine(client, 5000)
    result.stillOpen = report?.stillOpen ?? 0
    if (result.stillOpen > 0) {
      result.bytesPerConn = (result.rssAfterBytes - result.rssBeforeBytes) / result.stillOpen
      result.bytesPerConnRest = (result.rssRestBytes - result.rssBeforeBytes) / result.stillOpen
    } else result.failure = `no connection stayed open (opened ${result.opened}, failed ${result.failed})`
    return result
  } finally {
    client.child.stdin?.write('exit\n')
    await stopProc(client, 3000)
    // Let the proxy tear the connections down before the next target is measured.
    await sleep(settleMs)
  }
}
