/**
 * Serves the built demo page (dist/demo) and `/bootstrap.json` (where the page finds the relay)
 * for `agentmesh start`. Static files only, no directory listing, no path escapes.
 */
import { createServer, type Server } from 'node:http'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { componentLogger } from '../util/logger.ts'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm'
}

export interface DemoServer {
  url: string
  close: () => Promise<void>
}

export async function serveDemo (root: string, bootstrap: { bootstrap: string[], mesh: string }, where: { host: string, port: number }): Promise<DemoServer> {
  const log = componentLogger('demo')
  const base = normalize(root) + sep
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string | Uint8Array, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' })
      res.end(body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { send(405, 'method not allowed'); return }
    let path: string
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    } catch {
      send(400, 'bad path'); return
    }
    if (path === '/bootstrap.json') { send(200, JSON.stringify(bootstrap), TYPES['.json']); return }
    const file = normalize(join(base, path === '/' ? 'index.html' : path))
    if (!file.startsWith(base)) { send(403, 'forbidden'); return }
    stat(file)
      .then(async s => s.isFile() ? await readFile(file) : await readFile(join(base, 'index.html')))
      .then(body => { send(200, body, TYPES[extname(file)] ?? TYPES['.html']) })
      .catch(() => { send(404, 'not found') })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(where.port, where.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : where.port
  const url = `http://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}/`
  log('demo page on %s', url)
  return {
    url,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}
