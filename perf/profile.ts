// `npm run profile [-- --scenario ka|newconn|download|h2] [--seconds 10] [--workers 1] [--accept main|workers]`:
// runs portico under wrk load (h2: h2load -c10 -m10 over h2c prior knowledge) with --cpu-prof
// and prints, for the main thread and each worker thread, the functions with the most self time.
// Upstream: an nginx on 127.0.0.1 (as perf/bench.ts). Everything started is stopped at the end; only loopback is used.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { flagValue } from './lib/args.ts'
import { toolPorticoToml, upstreamNginxConf } from './lib/configs.ts'
import { ensureTools } from './lib/install.ts'
import { freePort, installCleanup, runBounded, sleep, startProc, stopAll, stopProc } from './lib/procs.ts'

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

function arg(name: string, fallback: string): string {
  return flagValue(process.argv, name, fallback)
}

/** Self time per function, as a share of the thread's samples (idle included, so shares add up to 100). */
export function topFrames(profile: Profile, limit: number): Array<{ share: number; frame: string }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0) || 1
  const self = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const f = (byId.get(id) as ProfileNode).callFrame
    const where = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}`
    const key = `${f.functionName || '(anonymous)'}${where}`
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([frame, t]) => ({ share: (t / total) * 100, frame }))
}

async function main(): Promise<void> {
  const scenario = arg('scenario', 'ka')
  const seconds = Number(arg('seconds', '10'))
  const workers = Number(arg('workers', '1'))
  const accept = arg('accept', 'main')
  if (accept !== 'main' && accept !== 'workers') throw new Error(`--accept ${JSON.stringify(accept)} is unknown: expected main or workers`)
  if (!['ka', 'newconn', 'download', 'h2'].includes(scenario)) throw new Error(`--scenario ${JSON.stringify(scenario)} is unknown: expected ka, newconn, download or h2`)
  const isH2 = scenario === 'h2'
  ensureTools(isH2 ? ['h2load', 'nginx'] : ['wrk', 'nginx'], (line) => process.stderr.write(line + '\n'))
  installCleanup()
  const dir = mkdtempSync(join(tmpdir(), 'portico-profile-'))
  const www = join(dir, 'www')
  mkdirSync(www)
  writeFileSync(join(www, '1m'), Buffer.alloc(1024 * 1024, 7))
  const upstreamPort = await freePort()
  const port = await freePort()
  writeFileSync(join(dir, 'upstream.conf'), upstreamNginxConf({ port: upstreamPort, dir, wwwDir: www }))
  const upstream = startProc('nginx', ['nginx', '-p', dir, '-e', join(dir, 'upstream-error.log'), '-c', join(dir, 'upstream.conf')])
  writeFileSync(join(dir, 'portico.toml'), toolPorticoToml({ port, upstreamPort, protocol: isH2 ? 'h2c' : 'http/1.1', workers, accept }))
  const profDir = join(dir, 'prof')
  const portico = startProc('portico', [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profDir}`,
    new URL('../src/portico.ts', import.meta.url).pathname, '-c', join(dir, 'portico.toml')])
  await sleep(2500)
  const path = scenario === 'download' ? '/1m' : '/'
  const extra = scenario === 'newconn' ? ['-H', 'Connection: close'] : []
  const connections = scenario === 'download' ? '10' : '50'
  const tool = isH2 ? 'h2load' : 'wrk'
  process.stderr.write(`profiling portico (${workers} worker thread${workers === 1 ? '' : 's'}, accept = "${accept}") under ${tool} ${scenario} for ${seconds}s\n`)
  const load = isH2
    ? await runBounded(['h2load', '-c10', '-m10', '-D', String(seconds), `http://127.0.0.1:${port}/`], (seconds + 30) * 1000)
    : await runBounded(['wrk', '-t2', `-c${connections}`, `-d${seconds}s`, ...extra, `http://127.0.0.1:${port}${path}`], (seconds + 30) * 1000)
  process.stdout.write(load.stdout.split('\n').filter((l) => /Requests\/sec|Transfer\/sec|requests in|^finished in|^requests:/.test(l)).join('\n') + '\n')
  // SIGINT: portico exits at once and Node writes one profile per thread.
  portico.child.kill('SIGINT')
  await sleep(2000)
  await stopProc(portico)
  await stopProc(upstream)
  for (const file of readdirSync(profDir).sort()) {
    const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as Profile
    const thread = /\.0\.\d+\.cpuprofile$/.test(file) ? 'main thread' : `worker thread (${file})`
    process.stdout.write(`\n${thread}: self time\n`)
    for (const { share, frame } of topFrames(profile, 20)) process.stdout.write(`${share.toFixed(1).padStart(6)}%  ${frame}\n`)
  }
  process.stdout.write(`\nprofiles: ${profDir} (open in Chrome DevTools → Performance)\n`)
  await stopAll()
}

await main()
