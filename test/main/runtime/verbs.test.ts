// The verb table, help and "Unknown command" suggestions, word splitting and levels. The fuzzy
// suggestion algorithm is checked by replaying HAProxy 2.6's own keyword list (from its `help`
// transcript) against the 2.6 replies to unknown commands.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from '../../../src/main/runtime/context.ts'
import { findVerb, helpLine, splitWords, usageMessage, VERBS } from '../../../src/main/runtime/verbs.ts'
import type { Verb } from '../../../src/main/runtime/verbs.ts'
import { ask, exchange, makeContext, startSockets, transcript, TRANSCRIPTS } from './fixture.ts'

/** HAProxy 2.6's keyword table as its help prints it: words are the usage's leading plain words. */
function haproxyTable(): Verb[] {
  const lines = readFileSync(join(TRANSCRIPTS, 'help-admin.txt'), 'latin1').split('\n')
    .slice(2).filter((l) => l.startsWith('  ')).slice(0, -3) // drop the help/prompt/quit trailer
  return lines.map((l) => {
    const usage = l.slice(2, 42).trimEnd()
    const words: string[] = []
    for (const w of usage.split(/\s+/)) {
      if (!/^[a-z][a-z0-9-]*$/.test(w)) break
      words.push(w)
    }
    return { words, usage, description: l.slice(44), level: Level.User, run: () => ({ text: '', severity: -1 as const }) }
  })
}

t.test('the suggestion algorithm reproduces 2.6 replies when given 2.6 keywords', async (t) => {
  const table = haproxyTable()
  t.ok(table.length > 90, `${table.length} keywords`)
  for (const name of [
    'err-unknown-command', 'err-unknown-command-xyzzy', 'err-unknown-command-qqq', 'err-unknown-show-subcommand',
    'get-weight-uppercase', 'help-admin', 'help-show', 'help-set-server', 'help-set-weight', 'empty-line',
    'whitespace-only-line',
  ]) {
    const { request, reply } = transcript(name)
    const args = splitWords(request)
    t.equal(usageMessage(table, args, args[0] === 'help') + '\n', reply, name)
  }
})

t.test('help lines are "  %-40s: %s" and help ends with the help/prompt/quit trailer', async (t) => {
  const verb = findVerb(['set', 'weight'])
  t.ok(verb)
  t.equal(helpLine(verb!), "  set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)\n")
  const help = usageMessage(VERBS, ['help'], true)
  t.ok(help.startsWith('The following commands are valid at this level:\n'))
  t.ok(help.endsWith(
    '  help [<command>]                        : list matching or all commands\n' +
    '  prompt                                  : toggle interactive mode with prompt\n' +
    '  quit                                    : disconnect\n'))
})

t.test('every verb except help, prompt and quit has a usage line and appears in help', async (t) => {
  const help = usageMessage(VERBS, ['help'], true)
  for (const v of VERBS) {
    if (['help', 'prompt', 'quit'].includes(v.words[0])) {
      t.equal(v.usage, null, v.words.join(' '))
      continue
    }
    t.ok(v.usage !== null && v.usage.startsWith(v.words.join(' ')), `usage of ${v.words.join(' ')} starts with its words`)
    t.ok(v.description.length > 0, `${v.words.join(' ')} has a description`)
    t.ok(help.includes(helpLine(v)), `${v.words.join(' ')} listed`)
  }
})

t.test('verbs that change state need admin; readers need user; clear counters needs operator', async (t) => {
  const level = (words: string[]): number => findVerb(words)!.level
  for (const w of [['set', 'weight'], ['set', 'server'], ['enable', 'server'], ['disable', 'server'], ['enable', 'health'],
    ['disable', 'health'], ['set', 'maxconn', 'server'], ['enable', 'frontend'], ['disable', 'frontend'], ['reload']]) {
    t.equal(level(w), Level.Admin, w.join(' '))
  }
  for (const w of [['show', 'stat'], ['show', 'info'], ['get', 'weight'], ['show', 'backend'], ['show', 'version'],
    ['show', 'servers', 'state'], ['show', 'workers'], ['help'], ['prompt'], ['quit'], ['show', 'cli', 'level']]) {
    t.equal(level(w), Level.User, w.join(' '))
  }
  t.equal(level(['clear', 'counters']), Level.Operator)
})

t.test('help replies match 2.6 byte for byte where portico has the same verbs', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  const { request, reply } = transcript('help-set-weight')
  t.equal(await ask(s.admin, request), reply)
  t.equal(await ask(s.stats, 'help'), await ask(s.admin, 'help'), 'help lists the same commands at every level')
  t.match(await ask(s.stats, 'help show'), /^The following commands are valid at this level:\n  show backend {28}: /)
})

t.test('splitWords splits on blanks and honours backslash escapes like cli_parse_request', async (t) => {
  t.same(splitWords('set   weight\tbe_app/s1    100'), ['set', 'weight', 'be_app/s1', '100'])
  t.same(splitWords(''), [])
  t.same(splitWords('   \t '), [])
  t.same(splitWords('a\\ b c'), ['a b', 'c'], 'escaped space stays in the word')
  t.same(splitWords('a\\\\b'), ['a\\b'], 'double backslash is one backslash')
  t.same(splitWords('a\\;b'), ['a;b'], 'other escapes drop the backslash')
  t.same(splitWords('a\\'), ['a'], 'a trailing backslash is dropped')
  t.equal(splitWords(Array.from({ length: 70 }, (_v, k) => `w${k}`).join(' ')).length, 64, 'at most 64 words')
})

t.test('keywords are case-sensitive: GET WEIGHT is unknown', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  t.match(await ask(s.admin, 'GET WEIGHT be_app/s1'), /^Unknown command, but maybe one of the following ones is a better match:\n/)
  t.match(await ask(s.admin, 'GET WEIGHT be_app/s1'), /\n {2}get weight <bk>\/<srv> {19}: report a server's current weight\n/)
})

t.test('show cli level, operator and user match 2.6 on each socket', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  t.equal(await ask(s.admin, 'show cli level'), transcript('show-cli-level-admin').reply)
  t.equal(await ask(s.stats, 'show cli level'), transcript('show-cli-level-user').reply)
  t.equal(await ask(s.admin, 'operator;show cli level'), '\n' + transcript('show-cli-level-operator').reply)
  t.equal(await ask(s.stats, 'operator'), 'Permission denied\n\n', 'a user session cannot raise itself')
  t.equal(await ask(s.stats, 'user;show cli level'), '\nuser\n\n', 'lowering to the same level is silent')
})

t.test('show workers lists the worker threads (portico extension)', async (t) => {
  const s = await startSockets()
  t.teardown(() => s.close())
  t.equal(await ask(s.stats, 'show workers'), '# thread_id slot generation connections\n11 0 1 3\n12 1 1 0\n\n')
})

t.test('reload runs only on the admin socket and answers with the outcome (portico extension)', async (t) => {
  const ctx = makeContext()
  const s = await startSockets(ctx)
  t.teardown(() => s.close())
  t.equal(await ask(s.stats, 'reload'), 'Permission denied\n\n')
  t.equal(ctx.reloads, 0)
  t.equal(await ask(s.admin, 'reload'), 'reloaded: generation 2\n\n')
  t.equal(ctx.reloads, 1)
  ctx.reload = async () => ({ ok: false, message: 'conf/portico.toml:3: listeners[0].bind = "x": expected host:port' })
  t.equal(await ask(s.admin, 'set severity-output number;reload'), '\n[3]: conf/portico.toml:3: listeners[0].bind = "x": expected host:port\n\n')
  // A slow reload still answers a client that half-closed right after its request.
  ctx.reload = () => new Promise((resolve) => setTimeout(() => resolve({ ok: true, message: 'slow but done' }), 200))
  const r = await exchange(s.admin, 'reload;show cli level\n')
  t.equal(r.reply, 'slow but done\n\nadmin\n\n')
  t.ok(ctx.logs.some((l) => (l.obj as { command?: string }).command === 'reload'), 'admin commands are logged')
})
