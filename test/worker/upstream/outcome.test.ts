// The retry rules both front ends share (worker/upstream/outcome.ts).

import t from 'tap'
import { isIdempotent, mayRetry } from '../../../src/worker/upstream/outcome.ts'

t.test('idempotent methods are those RFC 9110 names', async (t) => {
  for (const m of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']) t.ok(isIdempotent(m), m)
  for (const m of ['POST', 'PATCH', 'CONNECT', 'get']) t.notOk(isIdempotent(m), m)
})

t.test('a connect failure is retried whatever the method, up to `retries`', async (t) => {
  t.ok(mayRetry('upstream_connect_failed', 'POST', false, false, false, 1, 1))
  t.ok(mayRetry('upstream_connect_timeout', 'POST', false, false, false, 1, 1))
  t.notOk(mayRetry('upstream_connect_failed', 'POST', false, false, false, 2, 1), 'attempts used up')
  t.notOk(mayRetry('upstream_connect_failed', 'GET', false, false, false, 1, 0), 'retries = 0')
})

t.test('a reset before the response: idempotent or replayable only', async (t) => {
  t.ok(mayRetry('upstream_reset', 'GET', false, false, false, 1, 1))
  t.notOk(mayRetry('upstream_reset', 'POST', false, false, false, 1, 1), 'a POST may have been acted on')
  t.ok(mayRetry('upstream_reset', 'POST', false, true, true, 1, 1), 'a buffered POST is replayed')
})

t.test('never once the body streamed or the response started, never for non-retryable errors', async (t) => {
  t.notOk(mayRetry('upstream_reset', 'PUT', false, true, false, 1, 1), 'part of a streamed body went out')
  t.notOk(mayRetry('upstream_reset', 'GET', true, false, false, 1, 1), 'response bytes reached the client')
  t.notOk(mayRetry('upstream_response_timeout', 'GET', false, false, false, 1, 3), 'a slow server: another try would double the wait')
  t.notOk(mayRetry('upstream_bad_response', 'GET', false, false, false, 1, 3))
})
