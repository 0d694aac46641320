/**
 * The Raft transport after a partition heals: the side that noticed the cut dials anew, while the
 * other may still hold the old connection open, its writes going nowhere until TCP gives up.
 * A peer that opens a stream to us on another connection moves our stream to that connection.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { RaftConnection, RaftLibp2p } from '../../src/consensus/raft-transport.ts'
import { newMessage } from '../../src/consensus/raft/index.ts'
import { A, B, FakeStream, side, until } from './raft-transport-fakes.ts'

const MsgHeartbeat = 11

/** a connection between two peers; while `stale`, what is written on its streams goes nowhere */
class Link {
  stale = false
  readonly ends = new Map<string, RaftConnection>()
  constructor (readonly id: string, net: ConnNet, x: string, y: string) {
    for (const [self, other] of [[x, y], [y, x]]) {
      this.ends.set(self, {
        id,
        remotePeer: { toString: () => other },
        status: 'open',
        newStream: async () => {
          const mine = new LinkStream(this)
          const theirs = new LinkStream(this)
          mine.peerOf = theirs
          theirs.peerOf = mine
          void net.handlers.get(other)?.(theirs, this.ends.get(other)!)
          return mine
        }
      })
    }
  }
}

class LinkStream extends FakeStream {
  constructor (private readonly link: Link) { super() }
  override send (data: Uint8Array): boolean { return this.link.stale ? true : super.send(data) }
}

/** libp2p whose `dial` returns the connection the test says each side would pick */
class ConnNet {
  readonly handlers = new Map<string, (stream: any, connection: RaftConnection) => void | Promise<void>>()
  readonly picks = new Map<string, RaftConnection>()

  pick (self: string, peer: { toString: () => string }): RaftConnection {
    const conn = this.picks.get(`${self}>${peer.toString()}`)
    if (conn === undefined) throw new Error('no connection')
    return conn
  }

  libp2p (self: string): RaftLibp2p {
    return {
      handle: async (_protocol, handler) => { this.handlers.set(self, handler as any) },
      unhandle: async () => { this.handlers.delete(self) },
      // as libp2p: a stream on the connection it picks
      dialProtocol: async (peer: { toString: () => string }) => await this.pick(self, peer).newStream!('raft'),
      dial: async (peer: { toString: () => string }) => this.pick(self, peer)
    }
  }
}

describe('raft transport after a heal', () => {
  it('moves its stream to the connection the peer last reached it on', async () => {
    const net = new ConnNet()
    const [a, b] = [await side(net, A), await side(net, B)]
    try {
      const old = new Link('old', net, A, B)
      net.picks.set(`${A}>${B}`, old.ends.get(A)!)
      a.transport.send(B, [newMessage(MsgHeartbeat, B, A, 1)])
      await until('B to hear from A', () => b.received.length === 1)

      // the cut heals: the old connection still looks open from A's side but carries nothing;
      // B dialled A afresh (A's own dials would still pick the old one)
      old.stale = true
      const fresh = new Link('fresh', net, A, B)
      net.picks.set(`${B}>${A}`, fresh.ends.get(B)!)
      a.transport.send(B, [newMessage(MsgHeartbeat, B, A, 2)])
      b.transport.send(A, [newMessage(MsgHeartbeat, A, B, 3)])
      await until('A to hear from B over the fresh connection', () => a.received.length === 1)
      a.transport.send(B, [newMessage(MsgHeartbeat, B, A, 4)])
      await until('B to hear from A again', () => b.received.length === 2)
      assert.deepEqual(b.received.map(m => m.term), [1, 4], 'what went into the dead connection is lost (Raft sends again); what follows arrives')
    } finally {
      await a.transport.stop()
      await b.transport.stop()
    }
  })
})
