import assert from 'node:assert/strict'

/** reads Server-Sent Events from `url` until `count` data events arrived or the signal fires */
export async function readEvents (url: string, count: number, signal: AbortSignal, onOpen: () => void): Promise<unknown[]> {
  const res = await fetch(url, { signal })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
  onOpen()
  const events: unknown[] = []
  const decoder = new TextDecoder()
  let buffered = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true })
    let i: number
    while ((i = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, i); buffered = buffered.slice(i + 2)
      const data = block.split('\n').filter(l => l.startsWith('data:')).map(l => l.slice(5).trim()).join('\n')
      if (data !== '') events.push(JSON.parse(data))
      if (events.length >= count) return events
    }
  }
  return events
}
