// Unit tests for src/worker/tls.ts: which certificate SNI selects (exact, one-label wildcard,
// default, none), and loading a listener's certificates from files.

import t from 'tap'
import type { SecureContext } from 'node:tls'
import { CertSelector, loadCerts } from '../../src/worker/tls.ts'
import { certDir, makeCert } from '../fixtures/tls/certs.ts'

/** Stand-ins: select() only hands contexts back, so any distinct objects do. */
const A = { name: 'a' } as unknown as SecureContext
const WILD = { name: 'wild' } as unknown as SecureContext
const DEF = { name: 'default' } as unknown as SecureContext

t.test('SNI: exact names first, then a one-label wildcard, then the default', async (t) => {
  const s = new CertSelector(new Map([['a.example.com', A]]), new Map([['.example.com', WILD]]), DEF)
  t.equal(s.select('a.example.com'), A)
  t.equal(s.select('A.Example.COM'), A, 'case-insensitive')
  t.equal(s.select('b.example.com'), WILD)
  t.equal(s.select('x.a.example.com'), DEF, 'a wildcard covers one label only')
  t.equal(s.select('example.com'), DEF, 'nor the bare domain')
  t.equal(s.select('other.org'), DEF)
})

t.test('SNI without a default certificate: unknown names get none', async (t) => {
  const s = new CertSelector(new Map([['a.example.com', A]]), new Map([['.example.com', WILD]]), null)
  t.equal(s.select('nope.org'), null)
  t.equal(s.select('x.y.example.com'), null)
  t.equal(s.select('b.example.com'), WILD)
})

t.test('loadCerts reads each certificate once and maps its names', async (t) => {
  const dir = certDir()
  const a = makeCert(dir, 'a', 'a.test')
  const w = makeCert(dir, 'w', '*.w.test')
  const d = makeCert(dir, 'd', 'd.test')
  const s = loadCerts({
    certs: [
      { certFile: a.cert, keyFile: a.key, serverNames: ['a.test', 'b.test'] },
      { certFile: w.cert, keyFile: w.key, serverNames: ['*.w.test'] },
      { certFile: d.cert, keyFile: d.key, serverNames: [] },
    ],
    minVersion: 'TLSv1.2',
    ciphers: null,
  }, Buffer.alloc(48, 1))
  t.equal(s.select('a.test'), s.select('b.test'), 'two names, one context')
  t.not(s.select('x.w.test'), s.select('a.test'))
  t.equal(s.select('zzz'), s.fallback)
  t.ok(s.fallback !== null)
  t.throws(() => loadCerts({ certs: [{ certFile: `${dir}/missing.pem`, keyFile: a.key, serverNames: [] }], minVersion: 'TLSv1.2', ciphers: null }, null),
    /missing\.pem/, 'an unreadable file is named')
})
