// Starting the benchmark's processes: the upstream (nginx + the Node upload origin) and each
// proxy under test, with a readiness probe that sends a real request through the proxy.
// A proxy that does not come up is skipped with the reason; a portico that fails only with
// its TLS listener is retried without it. Runs on the harness main thread.

import { mkdirSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { fdHardLimit, freePort, sleep, startProc, stopProc } from './procs.ts'
import type { Proc } from './procs.ts'
import { haproxyConf, nginxProxyConf, porticoToml, upstreamNginxConf } from './configs.ts'
import type { Wiring } from './configs.ts'
import type { AcceptMode, TargetKind } from './args.ts'

/** The 64 B / 1 MiB origin and the upload origin. */
export interface Upstream {
  nginx: Proc
  upload: Proc
  upstreamPort: number
  uploadPort: number
}

/** One proxy under test, running. */
export interface Target {
  /** Row label: "haproxy", "nginx", "portico", "portico-w2". */
  label: string
  kind: TargetKind
  /** Threads / worker processes doing the proxying. */
  workers: number
  proc: Proc
  plainPort: number
  /** 0 when the TLS listener is absent (not asked for, or it failed). */
  tlsPort: number
  /** Why TLS scenarios are skipped for this target, or null. */
  tlsSkipReason: string | null
  /** Why h2 is skipped (TLS works but ALPN does not pick h2), or null. */
  h2SkipReason: string | null
  configFile: string
  /** taskset CPU list the proxy runs on, or null (not pinned). */
  proxyCpus: string | null
  /** taskset CPU list for the load generator driving this target, or null. */
  loadCpus: string | null
}

export const PORTICO_ENTRY = fileURLToPath(new URL('../../src/portico.ts', import.meta.url))
/** The launcher operators run: it adds portico's node flags (bin/portico). */
const PORTICO_LAUNCHER = fileURLToPath(new URL('../../bin/portico', import.meta.url))

/** GET `path` through 127.0.0.1:`port`; resolves the status code, or an error message. */
export function probeHttp(port: number, path: string, timeoutMs: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', (e) => resolve(e.message))
    })
    req.on('timeout', () => req.destroy(new Error(`no response within ${timeoutMs}ms`)))
    req.on('error', (e) => resolve(e.message))
  })
}

/**
 * TLS 1.3 handshake offering ALPN h2 and http/1.1: resolves the protocol chosen ("h2",
 * "http/1.1", or "none" when the server ignores ALPN), or an error message.
 */
export function probeTls(port: number, timeoutMs: number): Promise<{ alpn: string } | { error: string }> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'], minVersion: 'TLSv1.3', timeout: timeoutMs })
    sock.once('secureConnect', () => {
      const alpn = sock.alpnProtocol
      sock.destroy()
      resolve({ alpn: typeof alpn === 'string' ? alpn : 'none' })
    })
    sock.once('timeout', () => sock.destroy(new Error(`no TLS handshake within ${timeoutMs}ms`)))
    sock.once('error', (e) => resolve({ error: e.message }))
  })
}

/** Polls until GET `path` through the port answers 200, the process dies, or time runs out. */
async function waitReady(proc: Proc, port: number, path: string, timeoutMs: number): Promise<string | null> {
  const deadlineMs = Date.now() + timeoutMs
  let last = 'never probed'
  for (let attempt = 0; attempt < 400 && Date.now() < deadlineMs; attempt++) {
    if (proc.hasExited) return `${proc.name} ${proc.describeExit()}:\n${proc.tail(30)}`
    const r = await probeHttp(port, path, 1000)
    if (r === 200) return null
    last = typeof r === 'number' ? `status ${r}` : r
    await sleep(100)
  }
  return `${proc.name} not ready after ${timeoutMs}ms (last probe on :${port}${path}: ${last})\n${proc.tail(30)}`
}

/** `argv` under `taskset -c cpus` (taskset execs, so the pid stays the program's), or as is. */
export function pinned(argv: string[], cpus: string | null): string[] {
  return cpus === null ? argv : ['taskset', '-c', cpus, ...argv]
}

export async function startUpstream(dir: string, wwwDir: string, cpus: string | null = null): Promise<Upstream> {
  const upstreamPort = await freePort()
  const uploadPort = await freePort()
  for (const d of ['upstream-body', 'upstream-proxy', 'upstream-fastcgi', 'upstream-uwsgi', 'upstream-scgi']) mkdirSync(`${dir}/${d}`, { recursive: true })
  const conf = `${dir}/upstream-nginx.conf`
  writeFileSync(conf, upstreamNginxConf({ port: upstreamPort, dir, wwwDir }))
  const nginx = startProc('upstream nginx', pinned(['nginx', '-p', dir, '-e', `${dir}/upstream-error.log`, '-c', conf], cpus))
  const upload = startProc('upload origin', pinned([process.execPath, fileURLToPath(new URL('./upload-origin.ts', import.meta.url)), String(uploadPort)], cpus))
  const whyNginx = await waitReady(nginx, upstreamPort, '/', 10_000)
  if (whyNginx !== null) throw new Error(`upstream nginx failed to start: ${whyNginx}`)
  const whyUpload = await waitReady(upload, uploadPort, '/', 10_000)
  if (whyUpload !== null) throw new Error(`upload origin failed to start: ${whyUpload}`)
  return { nginx, upload, upstreamPort, uploadPort }
}

export interface TargetSpec {
  kind: TargetKind
  /** portico worker threads; 1 for the others. */
  workers: number
  label: string
  /** portico listener accept mode ("main" for the others). */
  accept: AcceptMode
  /** taskset CPU lists (--pin), or null. */
  proxyCpus: string | null
  loadCpus: string | null
}

/** Starts one proxy; resolves the running target or the reason it was skipped. */
export async function startTarget(
  spec: TargetSpec,
  baseDir: string,
  up: Upstream,
  cert: { certFile: string; keyFile: string; pemFile: string } | null,
  maxConns: number,
): Promise<Target | string> {
  const dir = `${baseDir}/${spec.label}`
  mkdirSync(dir, { recursive: true })
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(`${dir}/${d}`, { recursive: true })
  const wiring: Wiring = {
    upstreamPort: up.upstreamPort,
    uploadPort: up.uploadPort,
    plainPort: await freePort(),
    tlsPort: cert !== null ? await freePort() : 0,
    certFile: cert?.certFile ?? '',
    keyFile: cert?.keyFile ?? '',
    pemFile: cert?.pemFile ?? '',
    dir,
    maxConns,
    fdLimit: fdHardLimit(),
  }
  const first = await launch(spec, wiring)
  if (typeof first !== 'string') return first
  if (wiring.tlsPort === 0) return first
  // Retry without the TLS listener so the plain scenarios still run (portico may not have TLS yet).
  const plainOnly = await launch(spec, { ...wiring, tlsPort: 0 })
  if (typeof plainOnly === 'string') return first
  plainOnly.tlsSkipReason = `failed to start with a TLS listener: ${first}`
  plainOnly.h2SkipReason = plainOnly.tlsSkipReason
  return plainOnly
}

async function launch(spec: TargetSpec, w: Wiring): Promise<Target | string> {
  let argv: string[]
  let configFile: string
  if (spec.kind === 'haproxy') {
    configFile = `${w.dir}/haproxy.cfg`
    writeFileSync(configFile, haproxyConf(w))
    // -db: foreground, no daemon; -W is not used so the pid is the one doing the work.
    argv = ['haproxy', '-db', '-f', configFile]
  } else if (spec.kind === 'nginx') {
    configFile = `${w.dir}/nginx.conf`
    writeFileSync(configFile, nginxProxyConf(w))
    argv = ['nginx', '-p', w.dir, '-e', `${w.dir}/nginx-error.log`, '-c', configFile]
  } else {
    configFile = `${w.dir}/portico.toml`
    writeFileSync(configFile, porticoToml(w, spec.workers, process.getuid?.() === 0, spec.accept))
    argv = [PORTICO_LAUNCHER, '-c', configFile]
  }
  const proc = startProc(spec.label, pinned(argv, spec.proxyCpus), { cwd: w.dir })
  // portico loads TypeScript and spawns worker threads: give it longer than the C proxies.
  const why = await waitReady(proc, w.plainPort, '/', spec.kind === 'portico' ? 20_000 : 10_000)
  if (why !== null) {
    await stopProc(proc)
    return why
  }
  // The upload route must reach the upload origin (a GET there answers 200 "ok").
  const uploadStatus = await probeHttp(w.plainPort, '/upload', 3000)
  if (uploadStatus !== 200) {
    await stopProc(proc)
    return `GET /upload through ${spec.label} gave ${uploadStatus}, expected 200 from the upload origin`
  }
  let h2SkipReason: string | null = w.tlsPort > 0 ? null : 'no TLS listener'
  if (w.tlsPort > 0) {
    const probe = await probeTls(w.tlsPort, 3000)
    if ('error' in probe) {
      await stopProc(proc)
      return `TLS listener :${w.tlsPort}: ${probe.error}`
    }
    // TLS works but h2 is not offered: keep the TLS/1.1 scenarios, skip only h2.
    if (probe.alpn !== 'h2') h2SkipReason = `TLS listener :${w.tlsPort} chose ALPN ${JSON.stringify(probe.alpn)} when offered h2`
  }
  return {
    label: spec.label,
    kind: spec.kind,
    workers: spec.workers,
    proc,
    plainPort: w.plainPort,
    tlsPort: w.tlsPort,
    tlsSkipReason: w.tlsPort > 0 ? null : 'no TLS listener requested',
    h2SkipReason,
    configFile,
    proxyCpus: spec.proxyCpus,
    loadCpus: spec.loadCpus,
  }
}
