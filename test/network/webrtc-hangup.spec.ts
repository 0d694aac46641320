/**
 * A WebRTC connection whose far end hung up (its SCTP association or DTLS transport closed) is
 * closed at once instead of staying listed as open until ICE gives up 5-30 s later, during which
 * libp2p kept opening streams on it that could never open (issue 8). The real browser behaviour is
 * in test/browser/webrtc-hangup.test.ts; here the watch itself, over stand-in transports.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { defaultLogger } from '@libp2p/logger'
import { WebRTCHangupWatch } from '../../src/network/webrtc-hangup.ts'
import type { Connection } from '@libp2p/interface'

/** an RTCSctpTransport / RTCDtlsTransport stand-in that counts its listeners */
class FakeTransport extends EventTarget {
  state = 'connected'
  listeners = 0
  override addEventListener (type: string, l: EventListenerOrEventListenerObject | null): void { this.listeners++; super.addEventListener(type, l) }
  override removeEventListener (type: string, l: EventListenerOrEventListenerObject | null): void { this.listeners--; super.removeEventListener(type, l) }
  set (state: string): void { this.state = state; this.dispatchEvent(new Event('statechange')) }
}

interface FakeConnection { conn: Connection, sctp: FakeTransport, dtls: FakeTransport, aborted: Error[] }

let nextId = 0
function fakeConnection (webrtc = true): FakeConnection {
  const sctp = new FakeTransport()
  const dtls = new FakeTransport()
  const aborted: Error[] = []
  const conn = {
    id: `c${nextId++}`,
    status: 'open',
    remotePeer: { toString: () => 'remote' },
    maConn: webrtc ? { peerConnection: { sctp: Object.assign(sctp, { transport: dtls }) } } : {},
    abort (err: Error) { aborted.push(err); this.status = 'closed' }
  }
  return { conn: conn as unknown as Connection, sctp, dtls, aborted }
}

function startWatch (): { watch: WebRTCHangupWatch, events: EventTarget, open: (c: Connection) => void, close: (c: Connection) => void } {
  const events = new EventTarget()
  const watch = new WebRTCHangupWatch({ events: events as any, logger: defaultLogger() })
  watch.start()
  return {
    watch,
    events,
    open: (c) => { events.dispatchEvent(new CustomEvent('connection:open', { detail: c })) },
    close: (c) => { events.dispatchEvent(new CustomEvent('connection:close', { detail: c })) }
  }
}

describe('closing WebRTC connections whose far end hung up', () => {
  it('a connection is aborted as soon as its SCTP association closes, with a typed error', () => {
    const { watch, open } = startWatch()
    const a = fakeConnection()
    const b = fakeConnection()
    open(a.conn)
    open(b.conn)
    assert.equal(watch.size, 2)
    a.sctp.set('closed')
    assert.equal(a.aborted.length, 1)
    assert.equal(a.aborted[0].name, 'UnreachableError')
    assert.match(a.aborted[0].message, /hung up: its SCTP association closed/)
    assert.equal(b.aborted.length, 0, 'the other connection is left alone')
    assert.equal(a.sctp.listeners + a.dtls.listeners, 0, 'nothing left listening on the closed one')
    assert.equal(watch.size, 1)
    watch.stop()
  })

  it('a DTLS transport closed (close_notify) or failed closes it too; a state that is not an end does not', () => {
    const { watch, open } = startWatch()
    const closed = fakeConnection()
    const failed = fakeConnection()
    open(closed.conn)
    open(failed.conn)
    closed.sctp.set('connecting')
    closed.dtls.set('connecting')
    assert.equal(closed.aborted.length, 0)
    closed.dtls.set('closed')
    failed.dtls.set('failed')
    assert.match(closed.aborted[0]?.message ?? '', /DTLS transport is closed/)
    assert.match(failed.aborted[0]?.message ?? '', /DTLS transport is failed/)
    watch.stop()
  })

  it('a connection whose far end hung up before it was handed over is aborted at once', () => {
    const { watch, open } = startWatch()
    const c = fakeConnection()
    c.sctp.state = 'closed'
    open(c.conn)
    assert.equal(c.aborted.length, 1)
    assert.equal(watch.size, 0)
    watch.stop()
  })

  it('leaves other transports, connections closed by us, and closed connections alone', () => {
    const { watch, open, close } = startWatch()
    const ws = fakeConnection(false)
    open(ws.conn)
    assert.equal(watch.size, 0, 'a connection without an RTCPeerConnection is not watched')
    // our own close: the connection is closing when its transports go down
    const ours = fakeConnection()
    open(ours.conn)
    ;(ours.conn as { status: string }).status = 'closing'
    ours.sctp.set('closed')
    assert.equal(ours.aborted.length, 0)
    // closed in the ordinary way: no longer watched, nothing left listening
    const done = fakeConnection()
    open(done.conn)
    close(done.conn)
    assert.equal(done.sctp.listeners + done.dtls.listeners, 0)
    done.sctp.set('closed')
    assert.equal(done.aborted.length, 0)
    assert.equal(watch.size, 0)
    watch.stop()
  })

  it('stop() leaves no listener behind and watches nothing after', () => {
    const { watch, open } = startWatch()
    const c = fakeConnection()
    open(c.conn)
    assert.equal(c.sctp.listeners + c.dtls.listeners, 2)
    watch.stop()
    assert.equal(c.sctp.listeners + c.dtls.listeners, 0)
    assert.equal(watch.size, 0)
    const later = fakeConnection()
    open(later.conn)
    assert.equal(watch.size, 0, 'connections opening after stop are not watched')
    c.sctp.set('closed')
    assert.equal(c.aborted.length, 0)
  })
})
