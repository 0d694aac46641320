import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { splitEarly } from '../../src/consensus/early-send.ts'
import { MESSAGE_TYPE_NAMES, MessageType, newMessage } from '../../src/consensus/raft/index.ts'
import type { Message } from '../../src/consensus/raft/index.ts'

const msg = (type: MessageType, to: string, commit = 0): Message => ({ ...newMessage(type, to, 'me', 3), commit })
const names = (ms: Message[]): string[] => ms.map(m => `${MESSAGE_TYPE_NAMES[m.type].slice(3)}>${m.to}@${m.commit}`)

describe('messages sent while a batch is being written (early-send)', () => {
  it('a leader with a durable term sends appends and heartbeats whose commit its durable log covers', () => {
    const ms = [msg(MessageType.App, 'b', 5), msg(MessageType.Heartbeat, 'c', 5), msg(MessageType.App, 'c', 7)]
    const { now, later } = splitEarly(ms, { role: 'leader', termVoteDurable: true, durableLastIndex: 6, held: new Set() })
    assert.deepEqual(names(now), ['App>b@5', 'Heartbeat>c@5'])
    assert.deepEqual(names(later), ['App>c@7'], 'a commit index beyond the durable log waits for the write')
  })

  it('keeps the order of messages to one peer: after one that waits, later ones to that peer wait too', () => {
    const ms = [msg(MessageType.App, 'b', 9), msg(MessageType.App, 'b', 2), msg(MessageType.App, 'c', 2)]
    const held = new Set<string>()
    const { now, later } = splitEarly(ms, { role: 'leader', termVoteDurable: true, durableLastIndex: 4, held })
    assert.deepEqual(names(now), ['App>c@2'])
    assert.deepEqual(names(later), ['App>b@9', 'App>b@2'])
    assert.deepEqual([...held], ['b'])
    const again = splitEarly([msg(MessageType.Heartbeat, 'b', 1)], { role: 'leader', termVoteDurable: true, durableLastIndex: 4, held })
    assert.deepEqual(names(again.now), [], 'a peer with messages of the Ready being written still waits')
  })

  it('nothing but forwarded requests goes early when the term or vote is not on disk yet, or on a follower', () => {
    const ms = [msg(MessageType.App, 'b', 0), msg(MessageType.Prop, 'b'), msg(MessageType.ReadIndex, 'b'), msg(MessageType.Vote, 'c')]
    const leader = splitEarly(ms, { role: 'leader', termVoteDurable: false, durableLastIndex: 10, held: new Set() })
    assert.deepEqual(names(leader.now), ['Prop>b@0', 'ReadIndex>b@0'], 'proposals and reads pass even a waiting message to the same peer')
    const follower = splitEarly([msg(MessageType.AppResp, 'a'), msg(MessageType.HeartbeatResp, 'a'), msg(MessageType.Prop, 'a')],
      { role: 'follower', termVoteDurable: true, durableLastIndex: 10, held: new Set() })
    assert.deepEqual(names(follower.now), ['Prop>a@0'], 'a follower acknowledges appends only once they are written')
    assert.deepEqual(names(follower.later), ['AppResp>a@0', 'HeartbeatResp>a@0'])
  })
})
