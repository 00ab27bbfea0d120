// Real HAProxy clients that nobody here wrote, from Debian's packages, against a running portico's
// runtime sockets: socat one-liners from HAProxy's management guide, prometheus-haproxy-exporter
// scraping the stats socket (`unix:` scrape URI), and hatop driven through tmux (it lists the
// servers, its hotkeys change weight and maintenance, its CLI mode sends commands).
// Each test skips, saying which package to install, when its binary is missing (.ci/run installs
// socat, prometheus-haproxy-exporter, hatop and tmux).

import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import { freePort, request, sleep, startOrigin, startPortico } from './harness.ts'

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

async function has(bin: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${bin}`])).code === 0
}

const HAS_SOCAT = await has('socat')
const HAS_EXPORTER = await has('prometheus-haproxy-exporter')
const HAS_HATOP = await has('hatop')
const HAS_TMUX = await has('tmux')

/** One command on a runtime socket through node:net (to check what the clients did). */
function cli(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no reply to "${command}" on ${path}`)) }, 5000)
    s.on('connect', () => s.write(command + '\n'))
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString()) })
    s.on('error', (e) => { clearTimeout(timer); reject(e) })
  })
}

/** Poll `probe` every 100 ms until it returns true, at most `timeoutMs`; resolves to its last answer. */
async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await probe()) return true
    if (Date.now() > deadline) return false
    await sleep(100)
  }
}

// One portico for every client: listener web, upstream app with s1 and s2, both sockets.
const dir = mkdtempSync(join(tmpdir(), 'portico-clients-'))
const STATS = join(dir, 'stats.sock')
const ADMIN = join(dir, 'admin.sock')
const s1 = await startOrigin('s1')
const s2 = await startOrigin('s2')
const p = await startPortico(`
[global]
workers = 2
[log]
access = "off"
[runtime]
stats_socket = "${STATS}"
admin_socket = "${ADMIN}"

[[listeners]]
name = "web"
bind = "127.0.0.1:{{PORT}}"

[[routes]]
name = "all"
upstream = "app"

[[upstreams]]
name = "app"
[[upstreams.servers]]
name = "s1"
address = "127.0.0.1:${s1.port}"
[[upstreams.servers]]
name = "s2"
address = "127.0.0.1:${s2.port}"
`)
await p.waitFor(/"event":"started"/)
t.teardown(async () => {
  await p.stop()
  await s1.close()
  await s2.close()
  rmSync(dir, { recursive: true, force: true })
})

t.test('socat one-liners from HAProxy\'s management guide', { skip: HAS_SOCAT ? false : 'socat not installed (apt-get install -y socat)' }, async (t) => {
  const sh = async (line: string): Promise<string> => {
    const r = await run('sh', ['-c', line], 5000)
    if (r.code !== 0) throw new Error(`${line}: exit ${r.code}: ${r.stderr}`)
    return r.stdout
  }
  const stat = await sh(`echo "show stat" | socat stdio UNIX-CONNECT:${STATS}`)
  t.match(stat, /^# pxname,svname,qcur,qmax,/, 'show stat: the CSV header')
  t.match(stat, /^app,s1,/m)
  t.match(stat, /^app,s2,/m)
  t.ok(stat.endsWith('\n\n'), 'and the blank line that ends a reply')

  t.equal(await sh(`echo "set weight app/s1 50" | socat stdio UNIX-CONNECT:${ADMIN}`), '\n', 'set weight: an empty reply')
  t.equal(await sh(`echo "get weight app/s1" | socat stdio ${ADMIN}`), '50 (initial 100)\n\n', 'the short address form works too')
  t.equal(await sh(`echo "set weight app/s1 50" | socat stdio UNIX-CONNECT:${STATS}`), 'Permission denied\n\n', 'the stats socket is read-only')
  t.equal(await sh(`echo "set server app/s1 weight 100" | socat stdio ${ADMIN}`), '\n')

  const info = await sh(`echo "show info;show stat" | socat stdio ${STATS}`)
  t.match(info, /^Name: portico\nVersion: /, 'two commands on one line: show info first…')
  t.match(info, /\n\n# pxname,svname,/, '…then show stat')
  t.match(await sh(`echo "show servers state" | socat stdio ${STATS}`), /^1\n# be_id be_name srv_id srv_name /)
  t.match(await sh(`echo "help" | socat stdio ${ADMIN}`), /set weight <bk>\/<srv>/, 'help lists the write verbs on the admin socket')
  const interactive = await sh(`printf 'prompt\\nshow cli level\\nquit\\n' | socat stdio ${ADMIN}`)
  t.equal(interactive, '\n> admin\n\n> ', 'interactive mode: the "> " prompt, then quit')
})

t.test('prometheus-haproxy-exporter on the stats socket exports every server with the right up/down value', {
  skip: HAS_EXPORTER ? false : 'prometheus-haproxy-exporter not installed (apt-get install -y prometheus-haproxy-exporter)',
}, async (t) => {
  const port = await freePort()
  const exporter = spawn('prometheus-haproxy-exporter', [`--haproxy.scrape-uri=unix:${STATS}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  exporter.stderr.on('data', (d: Buffer) => { stderr += d })
  t.teardown(() => { exporter.kill('SIGKILL') })
  const scrape = async (): Promise<string> => {
    try {
      const r = await request(port, { path: '/metrics', timeoutMs: 5000 })
      return r.status === 200 ? r.text : ''
    } catch {
      return ''
    }
  }
  t.ok(await eventually(async () => (await scrape()) !== ''), `the exporter serves /metrics\n${stderr}`)

  for (let i = 0; i < 10; i++) await request(p.port)
  let text = await scrape()
  t.match(text, /^haproxy_up 1$/m, 'it could read portico')
  t.match(text, /^haproxy_exporter_csv_parse_failures_total 0$/m, 'and parse every CSV row')
  t.match(text, /^haproxy_version_info\{release_date="[^" ]+",version="[^"]+"\} 1$/m, 'version from show info')
  t.match(text, /^haproxy_server_up\{backend="app",server="s1"\} 1$/m)
  t.match(text, /^haproxy_server_up\{backend="app",server="s2"\} 1$/m)
  t.match(text, /^haproxy_backend_up\{backend="app"\} 1$/m)
  t.match(text, /^haproxy_frontend_http_requests_total\{frontend="web"\} 10$/m, 'the 10 requests sent')
  const answered = [...text.matchAll(/^haproxy_server_http_responses_total\{backend="app",code="2xx",server="s[12]"\} (\d+)$/gm)]
  t.equal(answered.reduce((n, m) => n + Number(m[1]), 0), 10, 'and the 10 2xx answers, split over s1 and s2')

  t.equal(await cli(ADMIN, 'set server app/s2 health down'), '\n')
  t.equal(await cli(ADMIN, 'set weight app/s1 30'), '\n')
  text = await scrape()
  t.match(text, /^haproxy_server_up\{backend="app",server="s1"\} 1$/m, 's1 still up')
  t.match(text, /^haproxy_server_up\{backend="app",server="s2"\} 0$/m, 's2 marked down is exported as 0')
  t.match(text, /^haproxy_server_weight\{backend="app",server="s1"\} 30$/m, 'the new weight')

  t.equal(await cli(ADMIN, 'disable server app/s1'), '\n')
  text = await scrape()
  t.match(text, /^haproxy_server_up\{backend="app",server="s1"\} 0$/m, 'a server in maintenance is 0')
  t.match(text, /^haproxy_backend_up\{backend="app"\} 0$/m, 'and with both out, the backend is down')

  t.equal(await cli(ADMIN, 'enable server app/s1'), '\n')
  t.equal(await cli(ADMIN, 'set server app/s2 health up'), '\n')
  t.equal(await cli(ADMIN, 'set weight app/s1 100'), '\n')
  text = await scrape()
  t.match(text, /^haproxy_server_up\{backend="app",server="s1"\} 1$/m)
  t.match(text, /^haproxy_server_up\{backend="app",server="s2"\} 1$/m, 'back up')
})

t.test('hatop in tmux lists the servers and sets weight and maintenance through its hotkeys and CLI mode', {
  skip: !HAS_HATOP ? 'hatop not installed (apt-get install -y hatop)' : !HAS_TMUX ? 'tmux not installed (apt-get install -y tmux)' : false,
}, async (t) => {
  const session = `portico-hatop-${process.pid}`
  const tmux = (...args: string[]) => run('tmux', args, 5000)
  // The pane stays after hatop exits, so a crash shows its traceback instead of a vanished session.
  const started = await tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50',
    `hatop -s ${ADMIN} -i 1; echo "hatop exited: $?"; sleep 60`)
  t.equal(started.code, 0, `tmux started ${started.stderr}`)
  t.teardown(async () => { await tmux('kill-session', '-t', session) })
  const screen = async (escapes = false): Promise<string> => (await tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', session)).stdout
  const weight = async (server: string): Promise<string> => (await cli(ADMIN, `get weight app/${server}`)).split(' ')[0]

  const listed = await eventually(async () => /^s2 +100 /m.test(await screen()))
  const shown = await screen()
  t.ok(listed, `hatop shows the servers:\n${shown}`)
  t.match(shown, /portico Version: /, 'its header reads show info')
  t.match(shown, /^>>> app$/m, 'the backend')
  t.match(shown, /^s1 +100 +- +none /m, 's1: weight 100, no check')
  t.match(shown, /^BACKEND +200 UP /m, 'the backend row: total weight, UP')
  t.match(shown, /^FRONTEND +0 OPEN /m, 'the listener as a frontend')
  t.notMatch(shown, /hatop exited|Traceback/)

  // Walk the selection (reverse video) down to s1; hatop selects blank and title rows too.
  let onS1 = false
  for (let i = 0; i < 10 && !onS1; i++) {
    await tmux('send-keys', '-t', session, 'Down')
    onS1 = await eventually(async () => (await screen(true)).includes('\x1b[7ms1 '), 1500)
  }
  t.ok(onS1, 's1 selected')

  await tmux('send-keys', '-t', session, 'F8')
  t.ok(await eventually(async () => (await weight('s1')) === '110'), 'F8: weight + 10 → 110')
  t.ok(await eventually(async () => /^s1 +110 /m.test(await screen())), 'and hatop shows it')
  await tmux('send-keys', '-t', session, 'F10')
  t.ok(await eventually(async () => /^s1 +110 MAINT /m.test(await screen())), 'F10: maintenance, MAINT on screen')
  t.match(await cli(STATS, 'show stat'), /^app,s1,(?:[^,]*,){15}MAINT,/m)
  await tmux('send-keys', '-t', session, 'F9')
  t.ok(await eventually(async () => /^s1 +110 +- /m.test(await screen())), 'F9: back from maintenance')
  await tmux('send-keys', '-t', session, 'F4')
  t.ok(await eventually(async () => (await weight('s1')) === '100'), 'F4: initial weight restored')

  // Mode 5 is hatop's embedded CLI: what is typed goes to the socket, the reply is shown.
  for (let i = 0; i < 4; i++) await tmux('send-keys', '-t', session, 'Tab')
  t.ok(await eventually(async () => /haproxy command line/.test(await screen())), 'CLI mode')
  await tmux('send-keys', '-t', session, 'set weight app/s2 42', 'Enter')
  t.ok(await eventually(async () => (await weight('s2')) === '42'), 'a command typed in hatop\'s CLI sets the weight')
  await tmux('send-keys', '-t', session, 'show servers state app', 'Enter')
  t.ok(await eventually(async () => /^1 app 2 s2 127\.0\.0\.1 2 0 42 100 /m.test(await screen())), 'and a reply is shown in it')
  t.equal(await cli(ADMIN, 'set weight app/s2 100'), '\n')
  t.notMatch(await screen(), /hatop exited|Traceback/, 'hatop is still running')
})
