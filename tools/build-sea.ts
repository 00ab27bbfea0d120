// `npm run build`: the standalone binary dist/portico, a Node single executable application
// (SEA) that runs `portico -c FILE` on a machine with no Node and no node_modules.
//
// A SEA runs ONE embedded script, and portico is many .ts files, four packages and a second
// entry point for worker threads. So esbuild (type stripping + bundling) makes three bundles:
//
//   dist/sea/main.mjs             tools/sea/main.ts → extract.ts, then src/portico.ts and all it
//                                 imports (pino, piscina, toml, prom-client): the SEA's main script
//   dist/sea/worker.cjs           src/worker/worker.ts and its imports: the module piscina loads
//                                 in each worker thread                          ┐ embedded as SEA
//   dist/sea/piscina-worker.cjs   piscina's own thread entry (dist/worker.js)    ┘ assets
//
// and `node --build-sea` (Node ≥ 25.5) copies the running node binary with the main script and
// the assets injected. At run time extract.ts writes the two worker files to a private temporary
// directory (threads start from files) and removes it on exit.
//
// Two source rewrites make the bundles location-independent (both checked, the build fails if a
// pattern is missing, e.g. after a piscina upgrade):
//   - `import.meta.url` in src/ becomes the file's URL under the extraction directory, so
//     `new URL('../package.json', import.meta.url)` (src/portico.ts: --version) finds the
//     package.json extracted there;
//   - piscina's `resolve(__dirname, 'worker.js')` becomes the extracted piscina-worker.cjs.

import { build } from 'esbuild'
import type { Plugin } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const OUT = join(ROOT, 'dist')
const STAGE = join(OUT, 'sea')
const BINARY = join(OUT, 'portico')

/** What every bundle shares: Node 26, everything inlined except Node's own modules. */
const common = {
  bundle: true,
  platform: 'node' as const,
  target: 'node26',
  // piscina's optional niceness support (a native addon); its require is guarded and unused here.
  external: ['@napi-rs/nice'],
  logLevel: 'warning' as const,
  legalComments: 'none' as const,
}

/** `import.meta.url` in src/*.ts → that file's URL under the directory extract.ts made. */
const importMetaUrl: Plugin = {
  name: 'portico-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8')
      if (!source.includes('import.meta.url')) return undefined
      const rel = relative(ROOT, args.path).split('\\').join('/')
      const url = `new URL(${JSON.stringify(rel)}, globalThis.porticoStandalone.root).href`
      return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' }
    })
  },
}

const PISCINA_WORKER_PATH = "(0, node_path_1.resolve)(__dirname, 'worker.js')"

/** piscina spawns threads on a file beside its own index.js; in the binary that file is extracted. */
const piscinaWorkerPath: Plugin = {
  name: 'portico-piscina-worker-path',
  setup(b) {
    b.onLoad({ filter: /[\\/]piscina[\\/]dist[\\/]index\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8')
      if (!source.includes(PISCINA_WORKER_PATH)) {
        throw new Error(`${args.path}: "${PISCINA_WORKER_PATH}" not found; piscina changed, update tools/build-sea.ts`)
      }
      return { contents: source.replace(PISCINA_WORKER_PATH, 'globalThis.porticoStandalone.piscinaWorker'), loader: 'js' }
    })
  },
}

async function main(): Promise<void> {
  const started = Date.now()
  rmSync(STAGE, { recursive: true, force: true })
  mkdirSync(STAGE, { recursive: true })

  await build({
    ...common,
    entryPoints: [join(ROOT, 'tools/sea/main.ts')],
    outfile: join(STAGE, 'main.mjs'),
    format: 'esm',
    // The CommonJS packages (pino, piscina, …) call require() for Node's modules; an ES module has
    // no `require`, so give the bundle one (resolving builtins only: everything else is inlined).
    banner: { js: "import { createRequire as __porticoCreateRequire } from 'node:module';\nconst require = __porticoCreateRequire(process.execPath);" },
    plugins: [importMetaUrl, piscinaWorkerPath],
  })
  await build({
    ...common,
    entryPoints: [join(ROOT, 'src/worker/worker.ts')],
    outfile: join(STAGE, 'worker.cjs'),
    format: 'cjs',
    plugins: [importMetaUrl],
  })
  await build({
    ...common,
    entryPoints: [join(ROOT, 'node_modules/piscina/dist/worker.js')],
    outfile: join(STAGE, 'piscina-worker.cjs'),
    format: 'cjs',
  })

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string }
  writeFileSync(join(STAGE, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'commonjs' }) + '\n')

  const seaConfig = {
    main: join(STAGE, 'main.mjs'),
    mainFormat: 'module',
    output: BINARY,
    disableExperimentalSEAWarning: true,
    // Flags given on the command line go to portico, not to node.
    execArgvExtension: 'none',
    // As bin/portico: the main thread's young generation capped at 12 MiB (src/main/generation.ts),
    // and `gc` for the idle GC (src/shared/idle-gc.ts).
    execArgv: ['--max-semi-space-size=4', '--expose-gc'],
    assets: {
      'worker.cjs': join(STAGE, 'worker.cjs'),
      'piscina-worker.cjs': join(STAGE, 'piscina-worker.cjs'),
      'package.json': join(STAGE, 'package.json'),
    },
  }
  const configFile = join(STAGE, 'sea-config.json')
  writeFileSync(configFile, JSON.stringify(seaConfig, null, 2) + '\n')
  rmSync(BINARY, { force: true })
  // The binary is a copy of the node running this script: Node 26 from the repo's node_modules.
  execFileSync(process.execPath, ['--build-sea', configFile], { stdio: ['ignore', 'ignore', 'inherit'] })
  chmodSync(BINARY, 0o755)
  const mb = (statSync(BINARY).size / (1 << 20)).toFixed(0)
  process.stdout.write(`dist/portico: ${mb} MB, node ${process.versions.node}, portico ${pkg.version} (${Date.now() - started}ms)\n`)
}

main().catch((err: Error) => {
  process.stderr.write(`build-sea: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
