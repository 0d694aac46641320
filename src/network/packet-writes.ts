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

/** the parts of @libp2p/utils' LengthPrefixedDecoder that Noise reads its packets with */
interface PacketLengthDecoder {
  lengthDecoder: (data: ByteRead) => number
  encodingLength: (n: number) => number
  maxDataLength: number
}

/** the parts of a Uint8ArrayList a length reader uses */
interface ByteRead {
  readonly length: number
  get: (index: number) => number
}

/**
 * a 2-byte big-endian packet length; with fewer than 2 bytes, `max`: a packet that long cannot be
 * complete yet, so the decoder stops and waits for more bytes, as when a length throws
 */
export function packetLengthOr (max: number): (data: ByteRead) => number {
  return (data) => data.length < 2 ? max : (data.get(0) << 8) | data.get(1)
}

/**
 * No exception per socket read. @libp2p/noise 17 decodes packets with @libp2p/utils'
 * LengthPrefixedDecoder, whose length reader (Noise's `uint16BEDecode`) throws a RangeError,
 * stack trace and all, when fewer than 2 bytes are left, and the decoder catches it to stop: so
 * once at the end of every read it decodes (~4% of a busy Raft leader's CPU). This gives the
 * decoder a reader that answers its `maxDataLength` instead, which makes it stop the same way
 * (a packet that long is never complete in the bytes there are). The same internals as above:
 * the connection under the muxer is Noise's EncryptedMessageStream, holding `decoder`; anything
 * of another shape is left alone (false).
 */
export function quietPacketLengths (conn: unknown): boolean {
  const d = (conn as { decoder?: Partial<PacketLengthDecoder> } | undefined)?.decoder
  if (d == null || typeof d.lengthDecoder !== 'function' || typeof d.encodingLength !== 'function' || typeof d.maxDataLength !== 'number') return false
  if (d.encodingLength(0) !== 2 || !Number.isSafeInteger(d.maxDataLength) || d.maxDataLength < 2) return false
  d.lengthDecoder = packetLengthOr(d.maxDataLength)
  return true
}
