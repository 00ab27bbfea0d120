// `npm start`: runs portico on conf/portico.toml with the two bundled demo upstream servers
// (tools/demo-upstream.ts on 127.0.0.1:9001 and :9002), so `curl localhost:8080/` answers at once.
// Ctrl-C stops all three.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'

const root = new URL('../', import.meta.url).pathname
const children: ChildProcess[] = []

function run(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  children.push(child)
  return child
}

run(process.execPath, ['tools/demo-upstream.ts', 's1', '9001'])
run(process.execPath, ['tools/demo-upstream.ts', 's2', '9002'])
// The demo may well be started as root on a development box; a production start is not.
// bin/portico, as an operator runs it (it adds portico's node flags).
const portico = run('bin/portico', ['-c', process.argv[2] ?? 'conf/portico.toml'], { PORTICO_ALLOW_ROOT: '1' })

function stopAll(signal: NodeJS.Signals): void {
  for (const c of children) if (c.exitCode === null) c.kill(signal)
}
process.on('SIGINT', () => stopAll('SIGTERM'))
process.on('SIGTERM', () => stopAll('SIGTERM'))
portico.on('exit', (code) => {
  stopAll('SIGTERM')
  process.exitCode = code ?? 0
})
