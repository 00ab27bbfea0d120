// The command line: `portico -c FILE`, `portico -c FILE --check`, `portico --version`.
// Runs on the main thread only; everything it starts lives in main/.

import { readFileSync } from 'node:fs'
import { loadConfig, formatProblems } from './shared/config/load.ts'

const USAGE = `usage: portico -c FILE            run with the config FILE
       portico -c FILE --check    validate FILE, print every problem, exit 1 if any
       portico --version
`

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

function nodeIsRecentEnough(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number)
  return major > 26 || (major === 26 && minor >= 6)
}

async function cli(argv: string[]): Promise<number> {
  let file: string | null = null
  let isCheck = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '-c' || arg === '--config') {
      file = argv[++i] ?? null
      if (file === null) {
        process.stderr.write(`portico: ${arg} needs a file name\n${USAGE}`)
        return 2
      }
    } else if (arg === '--check') {
      isCheck = true
    } else if (arg === '--version' || arg === '-v') {
      process.stdout.write(`portico ${version()} (node ${process.versions.node})\n`)
      return 0
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE)
      return 0
    } else {
      process.stderr.write(`portico: unknown argument ${JSON.stringify(arg)}\n${USAGE}`)
      return 2
    }
  }
  if (file === null) {
    process.stderr.write(`portico: no config file given\n${USAGE}`)
    return 2
  }
  if (!nodeIsRecentEnough()) {
    process.stderr.write(`portico: node ${process.versions.node} is too old: portico needs node >= 26.6 ` +
      `(it moves accepted sockets to worker threads); run \`npm ci\` in the portico checkout to install it\n`)
    return 1
  }
  const { config, problems } = loadConfig(file)
  if (config === null || problems.length > 0) {
    process.stderr.write(formatProblems(file, problems) + '\n')
    process.stderr.write(`portico: ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, not started\n`)
    return 1
  }
  if (isCheck) {
    process.stdout.write(`portico: ${file}: configuration is valid\n`)
    return 0
  }
  const { runMain } = await import('./main/main.ts')
  return runMain(config, file, version())
}

const code = await cli(process.argv.slice(2))
if (code !== -1) process.exitCode = code
