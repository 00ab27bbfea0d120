// The idle GC's decision: collect only after QUIET_CHECKS quiet checks in a row and GROWTH_BYTES
// of heap growth since the last collection (or the smallest heap seen).

import t from 'tap'
import { GROWTH_BYTES, IdleGcPolicy, QUIET_CHECKS, QUIET_UTILIZATION } from '../../src/shared/idle-gc.ts'

const MiB = 1024 * 1024
const BUSY = 0.5

t.test('a grown heap is collected only after enough quiet checks in a row', async (t) => {
  const p = new IdleGcPolicy(40 * MiB)
  const grown = 40 * MiB + GROWTH_BYTES
  for (let i = 1; i < QUIET_CHECKS; i++) t.notOk(p.observe(0, grown), `quiet check ${i} of ${QUIET_CHECKS}: not yet`)
  t.notOk(p.observe(BUSY, grown), 'a busy check starts the count again')
  for (let i = 1; i < QUIET_CHECKS; i++) t.notOk(p.observe(QUIET_UTILIZATION, grown), `quiet again, check ${i}`)
  t.ok(p.observe(QUIET_UTILIZATION, grown), `check ${QUIET_CHECKS} in a row: collect`)
})

t.test('a quiet heap that has not grown enough is left alone', async (t) => {
  const p = new IdleGcPolicy(40 * MiB)
  for (let i = 0; i < QUIET_CHECKS * 3; i++) t.notOk(p.observe(0, 40 * MiB + GROWTH_BYTES - 1))
})

t.test('after a collection its result is the baseline, and quiet is counted afresh', async (t) => {
  const p = new IdleGcPolicy(40 * MiB)
  for (let i = 1; i < QUIET_CHECKS; i++) p.observe(0, 80 * MiB)
  t.ok(p.observe(0, 80 * MiB))
  p.collected(50 * MiB)
  for (let i = 0; i < QUIET_CHECKS * 2; i++) t.notOk(p.observe(0, 50 * MiB + GROWTH_BYTES - 1), 'growth counts from 50 MiB now')
  t.notOk(p.observe(BUSY, 50 * MiB + GROWTH_BYTES))
  for (let i = 1; i < QUIET_CHECKS; i++) t.notOk(p.observe(0, 50 * MiB + GROWTH_BYTES))
  t.ok(p.observe(0, 50 * MiB + GROWTH_BYTES), 'grown again and quiet again: collect')
})

t.test('a heap that shrank on its own lowers the baseline', async (t) => {
  const p = new IdleGcPolicy(60 * MiB)
  p.observe(BUSY, 30 * MiB)
  for (let i = 1; i < QUIET_CHECKS; i++) p.observe(0, 30 * MiB + GROWTH_BYTES)
  t.ok(p.observe(0, 30 * MiB + GROWTH_BYTES), 'growth counted from the 30 MiB seen, not the 60 at start')
})

t.test('a real thread: after a burst of garbage and some quiet, one memory-reducing GC runs', async (t) => {
  // A child node with --expose-gc makes ~40 MiB of long-lived objects, drops them, then idles.
  const script = `
    import { startIdleGc } from ${JSON.stringify(new URL('../../src/shared/idle-gc.ts', import.meta.url).href)}
    const started = startIdleGc(() => true, (pauseMs, freed) => {
      process.stdout.write(JSON.stringify({ pauseMs, freed }) + '\\n')
      process.exit(0)
    })
    if (!started) { process.stdout.write('no gc\\n'); process.exit(1) }
    // The burst comes after the start, as connections come after portico starts.
    let keep = []
    for (let i = 0; i < 400_000; i++) keep.push({ i, s: 'x'.repeat(40) + i })
    setTimeout(() => { keep = null }, 100)
    setTimeout(() => { process.stdout.write('timeout\\n'); process.exit(2) }, 15_000)
  `
  const { spawnSync } = await import('node:child_process')
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
  t.equal(r.status, 0, `the GC ran within 15 s (stdout: ${r.stdout.trim()}, stderr: ${r.stderr.trim().slice(0, 300)})`)
  if (r.status === 0) {
    const { freed } = JSON.parse(r.stdout) as { pauseMs: number; freed: number }
    t.ok(freed >= GROWTH_BYTES, `it gave back the garbage's heap (${(freed / MiB).toFixed(1)} MiB)`)
  }
  const off = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import { startIdleGc } from ${JSON.stringify(new URL('../../src/shared/idle-gc.ts', import.meta.url).href)}\nprocess.stdout.write(String(startIdleGc(() => true, () => {})))`],
  { encoding: 'utf8', timeout: 20_000 })
  t.equal(off.stdout, 'false', 'without --expose-gc nothing starts')
})
