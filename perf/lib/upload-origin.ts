// The upload origin of the benchmark: a tiny HTTP/1.1 server that reads every byte of a
// request body and only then answers 204 (400 if the byte count differs from Content-Length).
// Runs as its own process so its CPU is not charged to the harness or the proxy:
//   node perf/lib/upload-origin.ts PORT
// It prints "ready" on stdout once listening. Anything that is not POST /upload gets 200 "ok".

import http from 'node:http'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write(`upload-origin: port ${JSON.stringify(process.argv[2])} is not valid: expected a TCP port\n`)
  process.exit(2)
}

const server = http.createServer({ keepAliveTimeout: 120_000, requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => {
  let receivedBytes = 0
  req.on('data', (chunk: Buffer) => {
    receivedBytes += chunk.length
  })
  req.on('end', () => {
    const expected = Number(req.headers['content-length'] ?? receivedBytes)
    if (req.method === 'POST' && receivedBytes !== expected) {
      res.writeHead(400, { 'content-length': '0' })
      res.end()
      return
    }
    if (req.method === 'POST') {
      res.writeHead(204)
      res.end()
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' })
      res.end('ok\n')
    }
  })
})
server.keepAliveTimeout = 120_000
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('ready\n')
})
process.on('SIGTERM', () => process.exit(0))
