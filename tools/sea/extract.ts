// The first module the standalone binary (dist/portico) runs, before any of portico's own: it
// writes the two files worker threads must load from disk (piscina's thread entry and portico's
// worker bundle, both embedded as SEA assets) to a private temporary directory, and tells the
// rest of the program where they are through globalThis.porticoStandalone (see
// src/main/generation.ts `Standalone`). Main thread only; bundled by tools/build-sea.ts.
//
// Why files: a worker thread starts from a file (piscina spawns `new Worker(path)` and loads the
// task module with require()/import()), and a single executable has no file of its own to offer.

import { getAsset } from 'node:sea'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Standalone } from '../../src/main/generation.ts'

/** The asset names tools/build-sea.ts embeds. */
export const ASSETS = ['worker.cjs', 'piscina-worker.cjs', 'package.json'] as const

// mkdtemp: a new directory only this process's user can create files in, so nobody else can plant
// code for our threads to load. 0755 / 0644: threads started after privileges are dropped still
// read them (main.ts hands the directory to global.user so it can also remove it on exit).
const dir = mkdtempSync(join(tmpdir(), `portico-${process.pid}-`))
chmodSync(dir, 0o755)
const files: string[] = []
for (const name of ASSETS) {
  const file = join(dir, name)
  writeFileSync(file, Buffer.from(getAsset(name)), { mode: 0o644 })
  files.push(file)
}
process.on('exit', () => {
  try { rmSync(dir, { recursive: true, force: true }) } catch { /* best effort: a temp dir */ }
})

const standalone: Standalone = {
  root: pathToFileURL(dir + '/').href,
  workerUrl: pathToFileURL(join(dir, 'worker.cjs')).href,
  piscinaWorker: join(dir, 'piscina-worker.cjs'),
  dir,
  files,
}
;(globalThis as { porticoStandalone?: Standalone }).porticoStandalone = standalone
