import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { LinkPool } from '../../src/messaging/link-pool.ts'
import type { BrokerLibp2p } from '../../src/messaging/broker-types.ts'
import type { RpcStream } from '../../src/messaging/rpc-link.ts'

/** a stream that stays open until closed, reading nothing */
function idleStream (): RpcStream {
  let closed = false
  let wake: (() => void) | undefined
  return {
    protocol: '/agentmesh/rpc/2.0.0',
    get status () { return closed ? 'closed' : 'open' },
    send: () => true,
    onDrain: async () => {},
    close: async () => { closed = true; wake?.() },
    abort: () => { closed = true; wake?.() },
    async * [Symbol.asyncIterator] () { await new Promise<void>(resolve => { wake = resolve }) }
  }
}

const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false }) as any

describe('LinkPool', () => {
  // the dial deadlines are unref'd timers: something has to keep the loop alive while they run
  let keepAlive: ReturnType<typeof setInterval>
  before(() => { keepAlive = setInterval(() => {}, 1000) })
  after(() => { clearInterval(keepAlive) })

  it('opens the stream over a fresh connection when opening it on the current one times out', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const calls: Array<{ force: boolean }> = []
    const libp2p = {
      dialProtocol: async (_peer: unknown, _protocols: string | string[], options: { signal?: AbortSignal, force?: boolean } = {}) => {
        calls.push({ force: options.force === true })
        if (options.force === true) return idleStream()
        // a circuit that is listed as open but answers nothing: only the deadline ends the wait
        return await new Promise<RpcStream>((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => { reject(options.signal!.reason) }, { once: true })
        })
      }
    } as unknown as BrokerLibp2p
    const pool = new LinkPool(libp2p, log, () => {})
    const link = await pool.linkTo(peer)
    assert.equal(link.isOpen, true)
    assert.deepEqual(calls, [{ force: false }, { force: true }])
    await pool.closeAll()
  })

  it('does not dial again when the caller gave up', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    let calls = 0
    const libp2p = {
      dialProtocol: async (_peer: unknown, _protocols: string | string[], options: { signal?: AbortSignal } = {}) => {
        calls++
        return await new Promise<RpcStream>((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => { reject(options.signal!.reason) }, { once: true })
        })
      }
    } as unknown as BrokerLibp2p
    const pool = new LinkPool(libp2p, log, () => {})
    const caller = new AbortController()
    setTimeout(() => { caller.abort(new Error('caller gave up')) }, 50)
    await assert.rejects(pool.linkTo(peer, { signal: caller.signal }), { name: 'UnreachableError' })
    assert.equal(calls, 1)
  })
})
