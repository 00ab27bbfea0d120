// A small demo upstream server for `npm start`: answers every request with which server it is,
// and /health with 200. Usage: node tools/demo-upstream.ts NAME PORT
import http from 'node:http'

const [name = 's1', portText = '9001'] = process.argv.slice(2)
const port = Number(portText)
let requests = 0

const server = http.createServer((req, res) => {
  requests++
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('ok\n')
    return
  }
  req.resume()
  req.on('end', () => {
    const body = `hello from ${name} (port ${port}): ${req.method} ${req.url}, request #${requests}, ` +
      `x-forwarded-for: ${req.headers['x-forwarded-for'] ?? '-'}\n`
    res.writeHead(200, { 'content-type': 'text/plain', 'x-server': name })
    res.end(body)
  })
})
server.listen(port, '127.0.0.1', () => process.stderr.write(`demo upstream ${name} listening on 127.0.0.1:${port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
