import { seededRng } from '../../src/util/prng.ts'
import { createMessageId, rngRandomBytes } from '../../src/messaging/message-id.ts'
import type { Envelope } from '../../src/messaging/envelope.ts'

const ids = rngRandomBytes(seededRng(7))

export function sampleEnvelope (over: Partial<Envelope> = {}): Envelope {
  return {
    kind: 'message',
    id: createMessageId(ids),
    sender: '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK',
    seq: 1,
    hlc: { wallMs: 1_700_000_000_000, logical: 0 },
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    contentType: 'application/json',
    payload: new TextEncoder().encode('{"op":"inc"}'),
    ...over
  } as Envelope
}

/** calls fn, returns the error name it threw, or 'none' */
export function thrownName (fn: () => unknown): string {
  try { fn() } catch (err) { return (err as Error).name }
  return 'none'
}
