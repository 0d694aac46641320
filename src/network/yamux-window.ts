/**
 * Yamux with window updates sent once half a stream's receive window is used, not after every
 * data frame.
 *
 * @libp2p/yamux 8.0.3 (`YamuxStream.sendWindowUpdate`, called from `handleData`) answers every
 * data frame it receives with a WindowUpdate frame returning the bytes just consumed. Each frame
 * is one Noise packet and, over TCP, two socket writes (length prefix, ciphertext): on a Raft
 * leader that was a quarter of all its socket writes per KV put (docs/consensus.md). Go's yamux
 * and hashicorp/yamux wait until the consumed amount reaches half the window; this does the same.
 * The wire format and the meaning of every frame are unchanged, so either end may be a stock
 * yamux: a sender may use the whole window it was granted and is told of more before it runs
 * out of half of it.
 *
 * Flow control stays correct: a data frame that brings the unacknowledged bytes to half the
 * window or more is answered at once, so a sender that has used its whole window (the only case
 * in which it waits) always has an update on the way; a paused stream (its reader is behind)
 * sends none, and on resume sends one if half or more is owed. The receive window still grows
 * (doubling up to `maxStreamWindowSize`) when updates come within 4 RTT of each other, judged
 * when an update is due, as go-yamux does.
 *
 * It reaches internals of @libp2p/yamux 8's muxer (`_newStream`) and stream (`recvWindow`,
 * `recvWindowCapacity`, `maxStreamWindowSize`, `epochStart`, `getRTT`, `getSendFlags`,
 * `sendFrame`, `state`). A muxer or stream without that shape is left stock (logged once), and
 * test/network/yamux-window.spec.ts fails loudly if the shape changes upstream.
 */
import { yamux } from '@libp2p/yamux'
import { StreamState } from '@libp2p/yamux/stream'
import type { YamuxMuxerInit } from '@libp2p/yamux'
import type { MessageStream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import { componentLogger } from '../util/logger.ts'
import { coalescePacketWrites, quietPacketLengths } from './packet-writes.ts'

const log = componentLogger('agentmesh:network:yamux-window')

/**
 * A stream tells its sender of consumed bytes once they reach 1/YAMUX_WINDOW_UPDATE_DIVISOR of
 * its receive window, as go-yamux does. (Kept here, not in constants.ts, with the only code that
 * reads it.)
 */
export const YAMUX_WINDOW_UPDATE_DIVISOR = 2

/** the yamux spec's frame type of a window update (hashicorp/yamux spec.md) */
const FRAME_TYPE_WINDOW_UPDATE = 0x1

/** the members of @libp2p/yamux's YamuxStream the threshold update reads and writes */
export interface YamuxStreamInternals {
  streamId: number
  state: number
  recvWindow: number
  recvWindowCapacity: number
  maxStreamWindowSize: number
  epochStart: number
  getRTT: () => number
  getSendFlags: () => number
  sendFrame: (header: { type: number, flag: number, streamID: number, length: number }) => boolean
  sendWindowUpdate: () => void
}

/** the member of @libp2p/yamux's YamuxMuxer through which every stream is made */
interface YamuxMuxerInternals {
  _newStream: (streamId: number, state: number, direction: string) => unknown
}

/** the fields of the internals that must be numbers / functions; empty when the shape is as expected */
export function yamuxStreamShapeProblems (stream: unknown): string[] {
  const s = stream as Record<string, unknown>
  const problems: string[] = []
  for (const f of ['streamId', 'state', 'recvWindow', 'recvWindowCapacity', 'maxStreamWindowSize', 'epochStart']) {
    if (typeof s?.[f] !== 'number') problems.push(`${f} is not a number`)
  }
  for (const f of ['getRTT', 'getSendFlags', 'sendFrame', 'sendWindowUpdate']) {
    if (typeof s?.[f] !== 'function') problems.push(`${f} is not a function`)
  }
  if (typeof StreamState?.Paused !== 'number') problems.push('StreamState.Paused is not exported')
  return problems
}

export function yamuxMuxerShapeProblems (muxer: unknown): string[] {
  return typeof (muxer as Partial<YamuxMuxerInternals>)?._newStream === 'function' ? [] : ['_newStream is not a function']
}

/**
 * The window update of go-yamux: nothing until at least 1/YAMUX_WINDOW_UPDATE_DIVISOR of the
 * receive window is owed to the sender, unless flags (SYN/ACK) must go out.
 */
export function sendThresholdWindowUpdate (s: YamuxStreamInternals, now: number = Date.now()): void {
  if (s.state === StreamState.Paused) {
    // the reader is behind: let the sender run out. The epoch restarts, as in the stock update
    s.epochStart = now
    return
  }
  const owed = s.recvWindow - s.recvWindowCapacity
  // the flags are read only when an update goes out: getSendFlags moves Init/SYNReceived on
  const sendingFlags = s.state === StreamState.Init || s.state === StreamState.SYNReceived
  if (!sendingFlags && owed < s.recvWindow / YAMUX_WINDOW_UPDATE_DIVISOR) return
  const flags = s.getSendFlags()
  const rtt = s.getRTT()
  if (flags === 0 && rtt > -1 && (now - s.epochStart) <= rtt * 4) {
    // the window was used up within 4 round trips: let the sender have more in flight
    s.recvWindow = Math.min(s.recvWindow * 2, s.maxStreamWindowSize)
  }
  const delta = s.recvWindow - s.recvWindowCapacity
  s.recvWindowCapacity = s.recvWindow
  s.epochStart = now
  s.sendFrame({ type: FRAME_TYPE_WINDOW_UPDATE, flag: flags, streamID: s.streamId, length: delta })
}

let shapeWarned = false

function warnShape (problems: string[]): void {
  if (shapeWarned) return
  shapeWarned = true
  log.error('@libp2p/yamux internals are not as expected (%s): window updates stay per frame', problems.join(', '))
}

/** makes every stream of `muxer` use threshold window updates; false (muxer left stock) if its shape is unknown */
export function installThresholdWindowUpdates (muxer: unknown): boolean {
  const problems = yamuxMuxerShapeProblems(muxer)
  if (problems.length > 0) { warnShape(problems); return false }
  const m = muxer as YamuxMuxerInternals
  const newStream = m._newStream.bind(m)
  m._newStream = (streamId, state, direction) => {
    const stream = newStream(streamId, state, direction)
    const streamProblems = yamuxStreamShapeProblems(stream)
    if (streamProblems.length > 0) { warnShape(streamProblems); return stream }
    const s = stream as YamuxStreamInternals
    s.sendWindowUpdate = () => { sendThresholdWindowUpdate(s) }
    return stream
  }
  return true
}

/**
 * `yamux(init)` whose streams send window updates at half the window (see above), over a
 * transport that writes each encrypted packet at once, and Noise reading packet lengths without an
 * exception per read (packet-writes.ts); use in place of
 * `yamux()` in `streamMuxers`. It speaks /yamux/1.0.0 with any yamux peer.
 */
export function meshYamux (init: Partial<YamuxMuxerInit> = {}): () => StreamMuxerFactory {
  const stock = yamux(init)
  return () => {
    const factory = stock()
    return {
      protocol: factory.protocol,
      [Symbol.toStringTag]: 'agentmesh:yamux',
      createStreamMuxer: (maConn: MessageStream): StreamMuxer => {
        coalescePacketWrites(maConn)
        quietPacketLengths(maConn)
        const muxer = factory.createStreamMuxer(maConn)
        installThresholdWindowUpdates(muxer)
        return muxer
      }
    }
  }
}
