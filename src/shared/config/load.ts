// Config file → validated Config, and problems → the lines `portico --check` prints.
// Main thread only: start, --check and SIGHUP reload all go through `loadConfig`, so they agree
// on what is valid. Never throws on a bad or missing file; the caller decides (exit 1 on start,
// log and keep serving on reload).

import fs from 'node:fs'
import { parseToml } from './parse.ts'
import type { Config, ConfigProblem } from './types.ts'
import { validate } from './validate.ts'

export interface LoadResult {
  /** null when there is at least one problem. */
  config: Config | null
  problems: ConfigProblem[]
}

/**
 * Reads, parses and validates a config file. A file that cannot be read is one problem (line 0);
 * a TOML syntax error is one problem at the parser's line; otherwise every validation problem.
 */
export function loadConfig(file: string): LoadResult {
  let source: string
  try {
    source = fs.readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    const why = code === 'ENOENT' ? 'no such file'
      : code === 'EACCES' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory'
      : (err as Error).message
    return { config: null, problems: [{ path: '', line: 0, message: `cannot read config file: ${why}` }] }
  }
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1) // editors on Windows write a BOM
  const parsed = parseToml(source)
  if (!parsed.ok) return { config: null, problems: [parsed.problem] }
  return validate(parsed.raw, file, parsed.locate)
}

/**
 * One line per problem, joined with "\n" (no trailing newline):
 *   `FILE:LINE: key.path = VALUE: message`
 * `:LINE` is left out when the line is unknown (0), ` = VALUE` when the key is missing, and
 * `key.path` for problems about the whole file (syntax errors, unreadable file).
 */
export function formatProblems(file: string, problems: ConfigProblem[]): string {
  const lines: string[] = []
  for (const p of problems) {
    const where = p.line > 0 ? `${file}:${p.line}` : file
    const what = p.path === '' ? '' : p.value === undefined ? `${p.path}: ` : `${p.path} = ${p.value}: `
    lines.push(`${where}: ${what}${p.message}`)
  }
  return lines.join('\n')
}
