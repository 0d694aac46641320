import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { HLC_MAX_LOGICAL, HybridLogicalClock, compareHlc, compareHlcText, formatHlc, parseHlc } from '../../src/util/hlc.ts'
import { ManualClock } from '../../src/util/clock.ts'

function thrownName (f: () => unknown): string | undefined {
  try { f() } catch (err) { return (err as Error).name }
  return undefined
}

describe('HybridLogicalClock', () => {
  it('follows physical time and counts logically while it stands still', () => {
    const clock = new ManualClock(1000)
    const hlc = new HybridLogicalClock(clock)
    assert.deepEqual(hlc.send(), { wallMs: 1000, logical: 0 })
    assert.deepEqual(hlc.send(), { wallMs: 1000, logical: 1 })
    clock.advance(5)
    assert.deepEqual(hlc.send(), { wallMs: 1005, logical: 0 })
  })

  it('orders a reply after the request even when the replier clock is behind', () => {
    const a = new HybridLogicalClock(new ManualClock(10_000))
    const b = new HybridLogicalClock(new ManualClock(9_000))
    const req = a.send()
    const recv = b.receive(req)
    assert.ok(compareHlc(recv, req) > 0)
    const reply = b.send()
    assert.ok(compareHlc(reply, recv) > 0)
    assert.ok(compareHlc(a.receive(reply), reply) > 0)
  })

  it('never goes backwards when the wall clock does', () => {
    const clock = new ManualClock(5000)
    const hlc = new HybridLogicalClock(clock)
    const t1 = hlc.send()
    const backwards = { ...clock, now: () => 4000 } as any
    const h2 = new HybridLogicalClock(backwards)
    h2.receive(t1)
    assert.ok(compareHlc(h2.send(), t1) > 0)
  })

  it('refuses timestamps further ahead than the allowed skew, without moving', () => {
    const hlc = new HybridLogicalClock(new ManualClock(1000), { maxSkewMs: 500 })
    const before = hlc.send()
    let err: any
    try { hlc.receive({ wallMs: 1000 + 501, logical: 0 }) } catch (e) { err = e }
    assert.equal(err?.name, 'ClockSkewError')
    assert.equal(err.details.skewMs, 501)
    assert.deepEqual(hlc.peek(), before)
    assert.deepEqual(hlc.receive({ wallMs: 1500, logical: 7 }), { wallMs: 1500, logical: 8 })
    assert.equal(thrownName(() => hlc.receive({ wallMs: -1, logical: 0 })), 'InvalidMessageError')
  })

  it('carries a saturated logical counter into the next millisecond', () => {
    const hlc = new HybridLogicalClock(new ManualClock(1000))
    hlc.receive({ wallMs: 1000, logical: HLC_MAX_LOGICAL - 1 })
    assert.deepEqual(hlc.send(), { wallMs: 1001, logical: 0 })
  })

  it('formats timestamps as text that sorts like compareHlc, peer ids breaking ties', () => {
    const ts = [{ wallMs: 2, logical: 0 }, { wallMs: 1, logical: 10 }, { wallMs: 1, logical: 9 }, { wallMs: 1, logical: 9, peer: 'b' }, { wallMs: 1, logical: 9, peer: 'a' }]
    for (const t of ts) assert.deepEqual(parseHlc(formatHlc(t)), t)
    const byCompare = [...ts].sort(compareHlc)
    const byText = [...ts].sort((a, b) => formatHlc(a) < formatHlc(b) ? -1 : 1)
    assert.deepEqual(byText, byCompare)
    assert.equal(thrownName(() => parseHlc('nonsense')), 'InvalidMessageError')
    assert.equal(thrownName(() => formatHlc({ wallMs: 1.5, logical: 0 })), 'InvalidArgumentError')
    assert.equal(thrownName(() => formatHlc({ wallMs: 1, logical: 0, peer: '' })), 'InvalidArgumentError')
  })

  it('reads the CRDT maps\' earlier stamps and compares text stamps by value, not by characters', () => {
    const earlier = '001700000000001.000007.pz'
    assert.deepEqual(parseHlc(earlier), { wallMs: 1_700_000_000_001, logical: 7, peer: 'pz' })
    const later = formatHlc({ wallMs: 1_700_000_000_001, logical: 8, peer: 'pa' })
    assert.ok(earlier > later, 'as text the earlier form sorts after')
    assert.ok(compareHlcText(later, earlier) > 0, 'by value it is before')
    assert.ok(compareHlcText('garbage', earlier) < 0, 'malformed sorts first')
  })
})
