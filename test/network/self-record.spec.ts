import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SelfRecord } from '../../src/network/self-record.ts'
import type { MeshLibp2p } from '../../src/network/libp2p.ts'
import { ManualClock } from '../../src/util/clock.ts'

/** just what SelfRecord reads of libp2p: its peer id, addresses, connections and events */
class FakeLibp2p extends EventTarget {
  readonly peerId = { toString: () => '12D3KooWSelf' }
  addrs = ['/ip4/127.0.0.1/tcp/4001']
  reads = 0
  getMultiaddrs (): Array<{ toString: () => string }> {
    this.reads++
    return this.addrs.map(a => ({ toString: () => a }))
  }

  getConnections (): [] { return [] }
}

function setup (): { libp2p: FakeLibp2p, clock: ManualClock, self: SelfRecord } {
  const libp2p = new FakeLibp2p()
  const clock = new ManualClock(1000)
  const self = new SelfRecord(libp2p as unknown as MeshLibp2p, clock, { mesh: 'm', role: 'node' })
  return { libp2p, clock, self }
}

describe('SelfRecord addresses', () => {
  it('while watched, reads libp2p\'s addresses once, and again as soon as libp2p says they changed', () => {
    const { libp2p, self } = setup()
    self.watchAddresses()
    assert.deepEqual(self.describe().addrs, ['/ip4/127.0.0.1/tcp/4001'])
    self.describe()
    self.describe()
    assert.equal(libp2p.reads, 1)

    for (const event of ['transport:listening', 'self:peer:update', 'transport:close']) {
      libp2p.addrs = [...libp2p.addrs, `/ip4/127.0.0.1/tcp/${4001 + libp2p.addrs.length}`]
      libp2p.dispatchEvent(new Event(event))
      assert.deepEqual(self.describe().addrs, libp2p.addrs, `after ${event}`)
    }
    assert.equal(libp2p.reads, 4)
  })

  it('reads them again after a while even without an event, and every time when not watched', () => {
    const { libp2p, clock, self } = setup()
    self.watchAddresses()
    self.describe()
    libp2p.addrs = ['/ip4/127.0.0.1/tcp/5000']
    clock.advance(4_000)
    assert.deepEqual(self.describe().addrs, ['/ip4/127.0.0.1/tcp/4001'])
    clock.advance(1_000)
    assert.deepEqual(self.describe().addrs, ['/ip4/127.0.0.1/tcp/5000'])

    self.unwatchAddresses()
    const before = libp2p.reads
    libp2p.addrs = ['/ip4/127.0.0.1/tcp/6000']
    assert.deepEqual(self.describe().addrs, ['/ip4/127.0.0.1/tcp/6000'])
    self.describe()
    assert.equal(libp2p.reads, before + 2)
    // no listener is left behind
    libp2p.dispatchEvent(new Event('transport:listening'))
  })

  it('announced addresses win over libp2p\'s', () => {
    const { libp2p, self } = setup()
    self.watchAddresses()
    self.announcedAddrs = ['/dns4/example.test/tcp/443/wss']
    assert.deepEqual(self.describe().addrs, ['/dns4/example.test/tcp/443/wss'])
    assert.equal(libp2p.reads, 0)
  })
})
