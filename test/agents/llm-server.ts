/**
 * A small OpenAI-compatible chat-completions server on 127.0.0.1 for tests. Each request is
 * answered by the next scripted behaviour (or the default one): a normal completion, a stream,
 * an error status with a body, or a hang until the client goes away.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Behaviour =
  | { type: 'reply', text?: string }
  | { type: 'stream', parts: string[] }
  | { type: 'error', status: number, body: string, retryAfter?: string }
  | { type: 'hang' }

export interface RecordedRequest {
  path: string
  headers: IncomingMessage['headers']
  body: any
}

export interface LlmTestServer {
  url: string
  requests: RecordedRequest[]
  script: Behaviour[]
  close: () => Promise<void>
}

/** the default reply echoes the last user message, so tests can see what was sent */
function defaultText (body: any): string {
  const msgs = Array.isArray(body?.messages) ? body.messages : []
  const last = [...msgs].reverse().find((m: any) => m.role === 'user')
  return `echo: ${last?.content ?? ''} (${msgs.length} messages)`
}

export async function startLlmServer (fallback?: (body: any) => Behaviour): Promise<LlmTestServer> {
  const requests: RecordedRequest[] = []
  const script: Behaviour[] = []
  const hanging = new Set<ServerResponse>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let body: any = null
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {}
      requests.push({ path: req.url ?? '', headers: req.headers, body })
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }))
        return
      }
      const b = script.shift() ?? fallback?.(body) ?? { type: body?.stream === true ? 'stream' : 'reply', ...(body?.stream === true ? { parts: [defaultText(body)] } : {}) } as Behaviour
      answer(b, body, res)
    })
  })
  function answer (b: Behaviour, body: any, res: ServerResponse): void {
    switch (b.type) {
      case 'reply': {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({
          id: 'cmpl-1',
          object: 'chat.completion',
          model: body?.model ?? 'test',
          choices: [{ index: 0, message: { role: 'assistant', content: b.text ?? defaultText(body) }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }
        }))
        return
      }
      case 'stream': {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        res.write(': comment line\n\n')
        b.parts.forEach((p, i) => {
          const chunk = { object: 'chat.completion.chunk', choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: p } : { content: p }, finish_reason: null }] }
          res.write(`data: ${JSON.stringify(chunk)}\n\n`)
        })
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\r\n\r\n`)
        res.end('data: [DONE]\n\n')
        return
      }
      case 'error': {
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (b.retryAfter != null) headers['retry-after'] = b.retryAfter
        res.writeHead(b.status, headers)
        res.end(b.body)
        return
      }
      case 'hang': {
        hanging.add(res)
        res.on('close', () => hanging.delete(res))
      }
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    script,
    close: async () => {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
