// TLS termination for one listener on a worker thread: the secure contexts (one per certificate,
// read from disk once per worker per generation, so a reload re-reads them), SNI selection, ALPN
// and the options of the per-listener TLS server that performs handshakes. Worker threads only:
// the handshake happens on the thread that got the socket, never on the main thread.
//
// SNI picks a certificate by exact name first, then by wildcard ("*.example.com" covers exactly
// one more label, as a client checking the certificate would require), then the default (the
// certificate without server_names). An unknown name with no default fails the handshake, and so
// does a client that sends no SNI when there is no default: portico never answers with a
// certificate that was not configured for the name asked.
//
// Session resumption: every context carries the process-wide ticket keys (WorkerInit.ticketKeys),
// so a ticket issued by one thread decrypts on any other, and in the next generation too.

import { readFileSync } from 'node:fs'
import tls from 'node:tls'
import type { SecureContext, TlsOptions } from 'node:tls'
import type { ListenerConfig, ListenerTls } from '../shared/config/types.ts'

/** Same on every thread and generation: OpenSSL only resumes sessions issued under the same context id. */
const SESSION_ID_CONTEXT = 'portico'

/** Certificates of one TLS listener, by the names they answer. */
export class CertSelector {
  /** Lowercase exact server name → context. */
  readonly exact: Map<string, SecureContext>
  /** For "*.example.com": ".example.com" → context. */
  readonly wildcard: Map<string, SecureContext>
  /** The certificate without server_names, or null (then unknown names fail the handshake). */
  readonly fallback: SecureContext | null

  constructor(exact: Map<string, SecureContext>, wildcard: Map<string, SecureContext>, fallback: SecureContext | null) {
    this.exact = exact
    this.wildcard = wildcard
    this.fallback = fallback
  }

  /** The context for a client's SNI name, or null when no certificate answers it. */
  select(serverName: string): SecureContext | null {
    const name = serverName.toLowerCase()
    const exact = this.exact.get(name)
    if (exact !== undefined) return exact
    const dot = name.indexOf('.')
    // A wildcard stands for one whole label: "*.example.com" does not cover "example.com" or "a.b.example.com".
    if (dot > 0) {
      const wild = this.wildcard.get(name.slice(dot))
      if (wild !== undefined) return wild
    }
    return this.fallback
  }
}

/** Options shared by every context of a listener. */
function contextOptions(t: ListenerTls, ticketKeys: Buffer | null): tls.SecureContextOptions {
  const opts: tls.SecureContextOptions = { minVersion: t.minVersion, sessionIdContext: SESSION_ID_CONTEXT }
  if (t.ciphers !== null) opts.ciphers = t.ciphers
  if (ticketKeys !== null) opts.ticketKeys = ticketKeys
  return opts
}

/**
 * Read a listener's certificates and build their contexts. Throws (with the file named) when a
 * file can't be read or parsed; validate.ts has checked them already, so that means the file
 * changed since.
 */
export function loadCerts(t: ListenerTls, ticketKeys: Buffer | null): CertSelector {
  const exact = new Map<string, SecureContext>()
  const wildcard = new Map<string, SecureContext>()
  let fallback: SecureContext | null = null
  for (const c of t.certs) {
    let ctx: SecureContext
    try {
      ctx = tls.createSecureContext({ ...contextOptions(t, ticketKeys), cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) })
    } catch (err) {
      throw new Error(`tls certificate ${c.certFile} (key ${c.keyFile}): ${(err as Error).message}`, { cause: err })
    }
    if (c.serverNames.length === 0) {
      fallback = ctx
      continue
    }
    for (const name of c.serverNames) {
      if (name.startsWith('*.')) wildcard.set(name.slice(1), ctx)
      else exact.set(name, ctx)
    }
  }
  return new CertSelector(exact, wildcard, fallback)
}

/** Why an SNI callback refused: the handshake fails with this, counted as a TLS error. */
export class UnknownServerNameError extends Error {
  readonly code = 'ERR_PORTICO_UNKNOWN_SNI'
  constructor(name: string) {
    super(`no certificate for server name ${JSON.stringify(name)} and no default certificate`)
    this.name = 'UnknownServerNameError'
  }
}

/**
 * Options for the listener's TLS server (a tls.Server that never listens; worker.ts
 * hands it each accepted socket). ALPN offers what `protocols` lists, preferring h2; a client
 * that offers no common protocol fails the handshake. `handshakeTimeoutMs`: a client that does
 * not finish the handshake in time is cut (client_header).
 */
export function tlsServerOptions(listener: ListenerConfig, certs: CertSelector, ticketKeys: Buffer | null, handshakeTimeoutMs: number): TlsOptions {
  const t = listener.tls as ListenerTls
  const hasH2 = listener.protocols.includes('h2')
  const hasH1 = listener.protocols.includes('http/1.1')
  const opts: TlsOptions = {
    ...contextOptions(t, ticketKeys),
    handshakeTimeout: handshakeTimeoutMs,
    SNICallback: (serverName: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
      const ctx = certs.select(serverName)
      if (ctx === null) cb(new UnknownServerNameError(serverName))
      else cb(null, ctx)
    },
    // Returning undefined sends the no_application_protocol alert.
    ALPNCallback: ({ protocols }: { servername: string; protocols: string[] }) => {
      if (hasH2 && protocols.includes('h2')) return 'h2'
      if (hasH1 && protocols.includes('http/1.1')) return 'http/1.1'
      return undefined
    },
  }
  // The context used before SNI is looked at, and for clients that send none: the default cert.
  // Without one the base context has no certificate, so a client without SNI fails the handshake.
  const def = t.certs.find((c) => c.serverNames.length === 0)
  if (def !== undefined) {
    opts.cert = readFileSync(def.certFile)
    opts.key = readFileSync(def.keyFile)
  }
  return opts
}
