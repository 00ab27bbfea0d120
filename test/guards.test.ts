// Guards on the shape of the code base: the thread boundary holds, every error code is
// documented, every runtime verb has a usage line.

import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ERRORS } from '../src/shared/errors.ts'

const ROOT = new URL('../', import.meta.url).pathname

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...tsFiles(p))
    else if (p.endsWith('.ts')) out.push(p)
  }
  return out
}

t.test('worker/ never imports main/, shared/ imports neither', async (t) => {
  for (const file of tsFiles(join(ROOT, 'src/worker'))) {
    t.notMatch(readFileSync(file, 'utf8'), /from '(\.\.\/)+main\//, `${file.slice(ROOT.length)} stays off the main thread`)
  }
  for (const file of tsFiles(join(ROOT, 'src/shared'))) {
    t.notMatch(readFileSync(file, 'utf8'), /from '(\.\.\/)+(main|worker)\//, `${file.slice(ROOT.length)} is thread-neutral`)
  }
})

t.test('every error code is documented in the README with its status', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  for (const [code, kind] of Object.entries(ERRORS)) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\` |`))
    t.ok(row !== undefined, `README documents ${code}`)
    if (row !== undefined) t.match(row, kind.status === 0 ? /\| — \|/ : new RegExp(`\\| ${kind.status} \\|`), `${code}: status ${kind.status}`)
  }
})

t.test('every runtime verb has a usage line and a description', async (t) => {
  const { VERBS } = await import('../src/main/runtime/verbs.ts')
  t.ok(VERBS.length > 10, 'the verb table is exported')
  for (const v of VERBS) {
    // help, prompt and quit are listed by the fixed help trailer, as in HAProxy.
    if (['help', 'prompt', 'quit'].includes(v.words[0])) continue
    t.ok(v.usage !== null && v.usage.length > 0 && v.description.length > 0, `${v.words.join(' ')} has usage and description`)
  }
})

t.test('both launchers pass portico node flags: the young-generation cap the worker threads get too, and --expose-gc', async (t) => {
  const flag = /--max-semi-space-size=(\d+)/
  const launcher = flag.exec(readFileSync(join(ROOT, 'bin/portico'), 'utf8'))
  const sea = flag.exec(readFileSync(join(ROOT, 'tools/build-sea.ts'), 'utf8'))
  const workers = /WORKER_YOUNG_GENERATION_MB = (\d+)/.exec(readFileSync(join(ROOT, 'src/main/generation.ts'), 'utf8'))
  t.ok(launcher !== null && sea !== null && workers !== null, 'bin/portico, tools/build-sea.ts and generation.ts each set it')
  if (launcher === null || sea === null || workers === null) return
  t.equal(sea[1], launcher[1], 'the standalone binary passes the flag bin/portico passes')
  for (const file of ['bin/portico', 'tools/build-sea.ts']) t.match(readFileSync(join(ROOT, file), 'utf8'), /--expose-gc/, `${file} exposes gc for the idle GC`)
  // V8's young generation is three semi-spaces (two, plus as much for new large objects).
  t.equal(Number(workers[1]), 3 * Number(launcher[1]), 'worker threads get the same young generation')
})
