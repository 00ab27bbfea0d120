// Taking the libuv handle out of an accepted, never-read net.Socket, so that the connection can
// be served on a Socket built for it (worker/worker.ts serve): sent to another thread as the bare
// handle (main/generation.ts dispatch), or rebuilt on the same thread to read into portico's own
// buffers (worker/accept.ts). Both threads import it.

import type { Socket } from 'node:net'

/**
 * The socket's handle, or null when it has none (closed already). `_handle` is net.Socket's
 * internal field, the one Node's own cluster code hands around; the Node version is pinned in
 * package.json and every e2e test goes through here. The husk is destroyed without its handle,
 * which closes nothing but lets the listening server count the connection as gone (otherwise
 * server.close() would wait for it forever).
 */
export function detachHandle(socket: Socket): object | null {
  const husk = socket as unknown as { _handle: object | null }
  const handle = husk._handle
  if (handle === null) return null
  husk._handle = null
  socket.destroy()
  return handle
}
