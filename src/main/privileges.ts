// Dropping root after the privileged work (binding ports < 1024, creating the runtime sockets) is
// done. Main thread only; setuid/setgid change the credentials of every thread of the process
// (glibc applies them to all threads), worker threads included.
//
// Names are resolved by the C library (NSS: /etc/passwd, LDAP, …) through Node's own
// seteuid/setegid, not by running `getent` or `id`: the standalone binary may run with an empty
// PATH, and a systemd unit with a minimal one.

import { chownSync, existsSync, readFileSync } from 'node:fs'
import type { GlobalConfig } from '../shared/config/types.ts'

export class PrivilegeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PrivilegeError'
  }
}

/** Numeric id of a user or group name (or a number written as a string), looked up while still root. */
function lookupId(kind: 'user' | 'group', name: string): number {
  if (/^\d+$/.test(name)) return Number(name)
  // Switch the effective id there and back: Node resolves the name with getpwnam_r/getgrnam_r.
  try {
    if (kind === 'user') {
      process.seteuid!(name)
      const uid = process.geteuid!()
      process.seteuid!(0)
      return uid
    }
    process.setegid!(name)
    const gid = process.getegid!()
    process.setegid!(0)
    return gid
  } catch {
    throw new PrivilegeError(`global.${kind} = "${name}": no such ${kind} on this system`)
  }
}

/** The primary group of `user` from /etc/passwd, or null when the user is not listed there (NSS only). */
function primaryGroup(user: string, uid: number): number | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':')
      if (f.length >= 4 && (f[0] === user || Number(f[2]) === uid)) return Number(f[3])
    }
  } catch { /* no /etc/passwd: fall through */ }
  return null
}

/**
 * As root: with global.user (and optionally global.group) hand `ownedFiles` (runtime sockets, the
 * standalone binary's extracted files) to that user and switch to it, supplementary groups
 * dropped; without global.user refuse to go on, unless global.allow_root = true or the environment
 * has PORTICO_ALLOW_ROOT=1 (tests, containers). Not root: nothing to do.
 */
export function dropPrivileges(global: GlobalConfig, ownedFiles: Array<string | null>): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return
  if (global.user === null) {
    if (global.allowRoot || process.env.PORTICO_ALLOW_ROOT === '1') return
    throw new PrivilegeError('running as root without global.user: set global.user (and global.group) to drop ' +
      'privileges after binding, or set global.allow_root = true to run as root on purpose')
  }
  const uid = lookupId('user', global.user)
  let gid: number
  if (global.group !== null) {
    gid = lookupId('group', global.group)
  } else {
    const primary = primaryGroup(global.user, uid)
    if (primary === null) throw new PrivilegeError(`global.user = "${global.user}": its primary group is unknown here; set global.group`)
    gid = primary
  }
  for (const file of ownedFiles) if (file !== null && existsSync(file)) chownSync(file, uid, gid)
  process.setgroups!([gid])
  process.setgid!(gid)
  process.setuid!(uid)
}
