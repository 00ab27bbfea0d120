// Installs the benchmark tools that are missing (wrk, haproxy, nginx, h2load, openssl) with
// apt-get: one `apt-get update`, then one `apt-get install -y` of only the missing packages.
// Runs on the harness main thread, before anything is started.

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Binary → Debian package that ships it. */
export const TOOLS: ReadonlyArray<{ bin: string; pkg: string }> = [
  { bin: 'wrk', pkg: 'wrk' },
  { bin: 'haproxy', pkg: 'haproxy' },
  { bin: 'nginx', pkg: 'nginx' },
  { bin: 'h2load', pkg: 'nghttp2-client' },
  { bin: 'openssl', pkg: 'openssl' },
]

/** Absolute path of `bin` on PATH (plus /usr/sbin, where nginx and haproxy live), or null. */
export function whichBin(bin: string): string | null {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])
  for (const dir of dirs) {
    if (dir !== '' && existsSync(`${dir}/${bin}`)) return `${dir}/${bin}`
  }
  return null
}

/**
 * Makes sure every tool in `needed` exists, installing the missing ones.
 * Returns the binaries still missing afterwards (the caller skips what needs them).
 */
export function ensureTools(needed: string[], log: (line: string) => void): string[] {
  const missing = TOOLS.filter((t) => needed.includes(t.bin) && whichBin(t.bin) === null)
  if (missing.length === 0) return []
  const pkgs = [...new Set(missing.map((t) => t.pkg))]
  if (process.getuid?.() !== 0) {
    log(`missing ${missing.map((t) => t.bin).join(', ')}; not root, so not installing (apt-get install ${pkgs.join(' ')})`)
    return missing.map((t) => t.bin)
  }
  log(`installing ${pkgs.join(' ')} (missing: ${missing.map((t) => t.bin).join(', ')})`)
  // Debian's postinst would start nginx/haproxy as system services on :80; RUNLEVEL=1 and a
  // policy-rc.d (present in most containers) keep invoke-rc.d from doing so.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' }
  const update = spawnSync('apt-get', ['update'], { env, encoding: 'utf8', timeout: 300_000 })
  if (update.status !== 0) log(`apt-get update failed (${update.status}): ${(update.stderr ?? '').trim().slice(-500)}`)
  const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], {
    env,
    encoding: 'utf8',
    timeout: 600_000,
  })
  if (install.status !== 0) log(`apt-get install failed (${install.status}): ${(install.stderr ?? '').trim().slice(-500)}`)
  return missing.filter((t) => whichBin(t.bin) === null).map((t) => t.bin)
}
