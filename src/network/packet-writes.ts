/**
 * One transport write per encrypted packet.
 *
 * @libp2p/noise 17 hands each packet to the connection under it as a list of two buffers, its
 * 2-byte length and its ciphertext, and @libp2p/tcp 11 (`socket.write` per buffer) and
 * @libp2p/websockets 10 (`websocket.send` per buffer) write each buffer on its own: every
 * yamux frame cost two socket writes (two syscalls over TCP, two WebSocket messages). This joins
 * the buffers of one write of up to MAX_COALESCED_WRITE_BYTES into one, so the transport writes
 * once. The bytes on the wire are the same; the far end cannot tell.
 *
 * It reaches internals of libp2p 3's connection upgrade: the connection handed to the muxer
 * factory is Noise's EncryptedMessageStream, whose `stream` is the transport's connection
 * (an AbstractMultiaddrConnection), whose `sendData(list)` may modify the list it is given
 * (@libp2p/utils AbstractMessageStream copies it first). Anything of another shape is left alone,
 * and test/network/yamux-window.spec.ts fails loudly if the shape changes upstream.
 */

/** a write of several buffers up to this size is joined into one (larger ones are left as they are) */
export const MAX_COALESCED_WRITE_BYTES = 256 * 1024

/** the parts of a uint8arraylist Uint8ArrayList used */
interface ByteList extends Iterable<Uint8Array> {
  readonly byteLength: number
  subarray: () => Uint8Array<ArrayBuffer>
  consume: (bytes: number) => void
  append: (...bufs: Array<Uint8Array<ArrayBuffer>>) => void
}

interface SendsData {
  sendData: (data: ByteList) => unknown
}

/** the transport connection under an encrypted connection, if it has the expected shape */
export function transportConnectionOf (conn: unknown): SendsData | undefined {
  const inner = (conn as { stream?: unknown } | undefined)?.stream as Partial<SendsData> | undefined
  return inner != null && typeof inner === 'object' && typeof inner.sendData === 'function' ? inner as SendsData : undefined
}

function bufferCount (data: Iterable<Uint8Array>): number {
  let n = 0
  for (const _ of data) if (++n > 1) break
  return n
}

/** joins the buffers of a write of several small ones into one, in place */
export function joinWrite (data: ByteList, maxBytes: number = MAX_COALESCED_WRITE_BYTES): void {
  if (typeof data?.subarray !== 'function' || data.byteLength > maxBytes || bufferCount(data) < 2) return
  const joined = data.subarray()
  data.consume(data.byteLength)
  data.append(joined)
}

/**
 * Makes the transport under `conn` (the connection a muxer is created over) write each packet
 * at once; false (left alone) when `conn` is not of the expected shape.
 */
export function coalescePacketWrites (conn: unknown): boolean {
  const inner = transportConnectionOf(conn)
  if (inner === undefined) return false
  const sendData = inner.sendData.bind(inner)
  inner.sendData = (data: ByteList) => {
    joinWrite(data)
    return sendData(data)
  }
  return true
}
