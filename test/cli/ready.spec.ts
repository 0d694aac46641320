import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { formatReadyLine, parseReadyLine, waitForReadyLine } from '../../src/cli/ready.ts'

const info = {
  peerId: '12D3KooWGRUVh7Q3cJtmJxEyxk6jy4gaN7dtHdeXbXk8z8iYSaTi',
  multiaddrs: ['/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWGRUVh7Q3cJtmJxEyxk6jy4gaN7dtHdeXbXk8z8iYSaTi'],
  http: 'http://127.0.0.1:9091'
}

describe('ready line', () => {
  it('formats exactly the API.md line and parses it back', () => {
    const line = formatReadyLine(info)
    assert.equal(line, `agentmesh ready {"peerId":"${info.peerId}","multiaddrs":["${info.multiaddrs[0]}"],"http":"http://127.0.0.1:9091"}`)
    assert.deepEqual(parseReadyLine(line), info)
    const withDemo = { ...info, demo: 'http://127.0.0.1:5173/' }
    const demoLine = formatReadyLine(withDemo)
    assert.ok(demoLine.endsWith(',"demo":"http://127.0.0.1:5173/"}'))
    assert.deepEqual(parseReadyLine(demoLine + '\r'), withDemo)
  })

  it('stays one line whatever the values hold', () => {
    const line = formatReadyLine({ ...info, peerId: 'a\nb' })
    assert.ok(!line.includes('\n'))
    assert.equal(parseReadyLine(line)?.peerId, 'a\nb')
  })

  it('ignores other lines and refuses malformed ready lines', () => {
    assert.equal(parseReadyLine('listening on 9090'), undefined)
    assert.equal(parseReadyLine(' agentmesh ready {}'), undefined)
    assert.throws(() => parseReadyLine('agentmesh ready {nope'), { name: 'InvalidMessageError' })
    assert.throws(() => parseReadyLine('agentmesh ready []'), { name: 'InvalidMessageError' })
    assert.throws(() => parseReadyLine('agentmesh ready {"peerId":"","multiaddrs":[],"http":"http://x"}'), /peerId/)
    assert.throws(() => parseReadyLine('agentmesh ready {"peerId":"p","multiaddrs":[1],"http":"http://x"}'), /multiaddrs/)
    assert.throws(() => parseReadyLine('agentmesh ready {"peerId":"p","multiaddrs":[],"http":"ftp://x"}'), /http must be/)
    assert.throws(() => parseReadyLine('agentmesh ready {"peerId":"p","multiaddrs":[],"http":"http://x","demo":3}'), /demo/)
    assert.throws(() => parseReadyLine('agentmesh ready ' + JSON.stringify({ ...info, pad: 'x'.repeat(70_000) })), { name: 'MessageTooLargeError' })
    assert.throws(() => formatReadyLine({ ...info, http: 'nope' }), { name: 'InvalidMessageError' })
  })
})

describe('waitForReadyLine', () => {
  it('finds the ready line among other output split across chunks, then keeps the stream flowing', async () => {
    const out = new PassThrough()
    const seen: string[] = []
    const waiting = waitForReadyLine(out, { onLine: l => seen.push(l) })
    const line = formatReadyLine(info) + '\n'
    out.write('starting\nrelay up')
    out.write('\n' + line.slice(0, 20))
    out.write(Buffer.from(line.slice(20)))
    assert.deepEqual(await waiting, info)
    assert.deepEqual(seen, ['starting', 'relay up'])
    assert.equal(out.listenerCount('data'), 0)
    // the child can keep writing without the pipe filling up
    for (let i = 0; i < 100; i++) out.write('x'.repeat(1024) + '\n')
    assert.ok(out.readableFlowing)
    assert.ok(out.readableLength < 64 * 1024)
  })

  it('rejects when the output ends first, naming the last lines', async () => {
    const out = new PassThrough()
    const waiting = waitForReadyLine(out)
    out.end('boom: port in use\n')
    await assert.rejects(waiting, (err: Error) => err.name === 'InvalidMessageError' && err.message.includes('port in use'))
  })

  it('rejects on a malformed ready line, an endless line, or abort', async () => {
    const a = new PassThrough()
    const pa = waitForReadyLine(a)
    a.write('agentmesh ready {oops\n')
    await assert.rejects(pa, { name: 'InvalidMessageError' })

    const b = new PassThrough()
    const pb = waitForReadyLine(b)
    b.write('y'.repeat(70_000))
    await assert.rejects(pb, { name: 'MessageTooLargeError' })

    const c = new PassThrough()
    const ac = new AbortController()
    const pc = waitForReadyLine(c, { signal: ac.signal })
    ac.abort()
    await assert.rejects(pc, { name: 'AbortError' })
    assert.equal(c.listenerCount('data'), 0)
  })
})
