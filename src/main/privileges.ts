// Dropping root after the privileged work (binding ports < 1024, creating the runtime sockets) is
// done. Main thread only; setuid/setgid apply to every thread of the process.

import { chownSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import type { GlobalConfig } from '../shared/config/types.ts'

export class PrivilegeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PrivilegeError'
  }
}

function lookupId(db: 'passwd' | 'group', name: string): number {
  if (/^\d+$/.test(name)) return Number(name)
  try {
    const line = execFileSync('getent', [db, name], { encoding: 'utf8' }).trim()
    return Number(line.split(':')[2])
  } catch {
    throw new PrivilegeError(`global.${db === 'passwd' ? 'user' : 'group'} = "${name}": no such ${db === 'passwd' ? 'user' : 'group'} on this system`)
  }
}

/**
 * As root: with global.user (and optionally global.group) hand the runtime socket files to that
 * user and switch to it; without them refuse to go on, unless global.allow_root = true or the
 * environment has PORTICO_ALLOW_ROOT=1 (tests, containers). Not root: nothing to do.
 */
export function dropPrivileges(global: GlobalConfig, ownedFiles: Array<string | null>): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return
  if (global.user === null) {
    if (global.allowRoot || process.env.PORTICO_ALLOW_ROOT === '1') return
    throw new PrivilegeError('running as root without global.user: set global.user (and global.group) to drop ' +
      'privileges after binding, or set global.allow_root = true to run as root on purpose')
  }
  const uid = lookupId('passwd', global.user)
  const gid = global.group !== null ? lookupId('group', global.group) : Number(execFileSync('id', ['-g', global.user], { encoding: 'utf8' }).trim())
  for (const file of ownedFiles) if (file !== null && existsSync(file)) chownSync(file, uid, gid)
  process.setgroups?.([gid])
  process.setgid?.(gid)
  process.setuid?.(uid)
}
