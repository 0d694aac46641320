// The test's HTTP client inside the lab's client namespace: it listens on a Unix socket (a file,
// reachable from the test process in the host namespace) and forwards `METHOD /<ip>:<port>/<path>`
// to http://<ip>:<port>/<path> on the lab's bridge. A request that gets no answer within
// `x-timeout-ms` (default 4000, at most 30000) is answered 599 with {error:{name:'ProxyTimeout'}};
// a connection that fails, 598 {error:{name:'ProxyUnreachable'}}: the outcome is unknown to the test.
//   ip netns exec <client-ns> node test/faults/ns-proxy.mjs <socket-path>
import http from 'node:http'
import { rmSync } from 'node:fs'

const socketPath = process.argv[2]
if (socketPath === undefined) {
  process.stderr.write('usage: ns-proxy.mjs <socket-path>\n')
  process.exit(2)
}
const MAX_BODY_BYTES = 1024 * 1024
const TARGET = /^\/(10\.213\.\d{1,3}\.\d{1,3}:\d{1,5})(\/.*)$/

const server = http.createServer((req, res) => {
  const m = TARGET.exec(req.url ?? '')
  const answer = (status, body) => {
    if (res.headersSent) return
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  if (m === null) { answer(400, { error: { name: 'ProxyBadTarget', message: 'expected /<lab ip>:<port>/<path>' } }); return }
  // a client that goes away mid-request (its own timeout) must not take the proxy down with it
  req.on('error', () => {})
  res.on('error', () => {})
  // a whole number of ms: AbortSignal.timeout throws a RangeError on a fraction, and thrown in the
  // 'end' handler it ended the proxy (every later call then got ECONNREFUSED on its socket)
  const timeoutMs = Math.max(1, Math.min(Math.round(Number(req.headers['x-timeout-ms'] ?? 4000)) || 4000, 30_000))
  const chunks = []
  let size = 0
  req.on('data', (c) => {
    size += c.length
    if (size > MAX_BODY_BYTES) { answer(413, { error: { name: 'ProxyTooLarge', message: 'body too large' } }); req.destroy(); return }
    chunks.push(c)
  })
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    fetch(`http://${m[1]}${m[2]}`, {
      method: req.method,
      headers: body.length > 0 ? { 'content-type': 'application/json' } : {},
      body: body.length > 0 ? body : undefined,
      signal: AbortSignal.timeout(timeoutMs)
    }).then(async (r) => {
      // the body can fail too (the deadline passes while it is read): that is caught below, not
      // an unhandled rejection that ends the proxy (seen: the test then got ECONNREFUSED/EPIPE)
      const text = await r.text()
      if (res.headersSent) return
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' })
      res.end(text)
    }).catch((err) => {
      const timedOut = err?.name === 'TimeoutError' || err?.name === 'AbortError'
      answer(timedOut ? 599 : 598, { error: { name: timedOut ? 'ProxyTimeout' : 'ProxyUnreachable', message: String(err?.cause?.message ?? err?.message ?? err) } })
    })
  })
})

rmSync(socketPath, { force: true })
server.listen(socketPath, () => { process.stdout.write('ns-proxy ready\n') })
const stop = () => { server.close(); server.closeAllConnections(); rmSync(socketPath, { force: true }); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// never outlive the test process that started it
const parent = Number(process.env.AGENTMESH_PARENT_PID ?? 0)
if (parent > 0) {
  setInterval(() => {
    try { process.kill(parent, 0) } catch { stop() }
  }, 1000).unref()
}
