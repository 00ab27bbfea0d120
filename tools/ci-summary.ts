// Reads tap's TAP output (npm test -- --reporter=tap) and prints "N passed, M failed": every
// test point inside each test file (indented one level), plus a file that failed as a whole
// without reporting any test points (a crash, a syntax error) counted as one failure.
import { readFileSync } from 'node:fs'

const text = readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8')
let passed = 0
let failed = 0
let pointsInFile = 0
for (const line of text.split('\n')) {
  const inner = /^ {4}(not ok|ok) \d+/.exec(line)
  if (inner !== null) {
    pointsInFile++
    if (inner[1] === 'ok') passed++
    else failed++
    continue
  }
  const top = /^(not ok|ok) \d+/.exec(line)
  if (top !== null) {
    if (top[1] === 'not ok' && pointsInFile === 0) failed++
    else if (top[1] === 'ok' && pointsInFile === 0 && !/# SKIP/.test(line)) passed++
    pointsInFile = 0
  }
}
if (passed + failed === 0 && !/^(not )?ok /m.test(text)) failed = 1
process.stdout.write(`${passed} passed, ${failed} failed\n`)
