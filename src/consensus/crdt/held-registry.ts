/**
 * The docs this peer holds (as member or replica), kept in the Store so a restarted peer reopens
 * and keeps serving them: `crdt/held/<encoded doc id>` -> [version, role, owner, replicas, policy]
 * (policy: the conflict policy's name, see policy.ts; records without it mean 'crdt').
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { describeError } from '../../errors.ts'
import type { AbortOptions } from '../../util/abort.ts'
import type { Logger } from '../../util/logger.ts'
import type { Store } from '../../storage/types.ts'
import { CRDT_WIRE_VERSION } from './constants.ts'
import type { PeerId } from './types.ts'

export interface HeldMeta {
  role: 'member' | 'replica'
  owner: PeerId
  replicas: number
  /** the doc's conflict policy by name ('crdt' when absent) */
  policy?: string
}

/** the store prefix of one doc's update log */
export function docLogPrefix (docId: string): string {
  return `crdt/doc/${encodeURIComponent(docId)}/`
}

export class HeldRegistry {
  private readonly store: Store

  constructor (root: Store, private readonly log: Logger) {
    this.store = root.sub('crdt/held/')
  }

  async save (docId: string, meta: HeldMeta, options?: AbortOptions): Promise<void> {
    const value = encoding.encode(e => {
      encoding.writeVarUint(e, CRDT_WIRE_VERSION)
      encoding.writeVarString(e, meta.role)
      encoding.writeVarString(e, meta.owner)
      encoding.writeVarUint(e, meta.replicas)
      encoding.writeVarString(e, meta.policy ?? 'crdt')
    })
    await this.store.put(encodeURIComponent(docId), value, { sync: true, signal: options?.signal })
  }

  async delete (docId: string, options?: AbortOptions): Promise<void> {
    await this.store.del(encodeURIComponent(docId), { sync: true, signal: options?.signal })
  }

  /** every record that decodes; unreadable ones are logged and skipped */
  async load (options?: AbortOptions): Promise<Array<[string, HeldMeta]>> {
    const out: Array<[string, HeldMeta]> = []
    for await (const [key, value] of this.store.entries()) {
      options?.signal?.throwIfAborted()
      try {
        const d = decoding.createDecoder(value)
        if (decoding.readVarUint(d) !== CRDT_WIRE_VERSION) throw new Error('unknown version')
        const role = decoding.readVarString(d) === 'member' ? 'member' : 'replica'
        const owner = decoding.readVarString(d)
        const replicas = decoding.readVarUint(d)
        const policy = decoding.hasContent(d) ? decoding.readVarString(d) : 'crdt'
        out.push([decodeURIComponent(key), { role, owner, replicas, policy }])
      } catch (err) {
        this.log.error('skipping unreadable held-doc record %s: %s', key, describeError(err).message)
      }
    }
    return out
  }
}
