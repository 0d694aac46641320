/**
 * The key-value maps of one document under its conflict policy, and the conflicts they recorded
 * (lww and custom policies), bounded per doc; handleConflict resolves one by the policy.
 */
import type * as Y from 'yjs'
import { NotFoundError } from '../../errors.ts'
import type { Logger } from '../../util/logger.ts'
import { MAX_CONFLICTS_PER_DOC } from './constants.ts'
import { compareHlcText, type HybridLogicalClock } from '../../util/hlc.ts'
import { YKeyValue } from './key-value.ts'
import { stableHash } from './placement.ts'
import { policyName } from './policy.ts'
import type { Conflict, ConflictOutcome, ConflictPolicy } from './types.ts'

export interface DocConflictsInit {
  docId: string
  doc: Y.Doc
  policy: ConflictPolicy
  hlc: HybridLogicalClock
  /** this peer's id, in the stamps of its writes */
  peer: string
  log: Logger
  /** a map recorded a conflict */
  detected: (conflict: Conflict) => void
}

export class DocConflicts {
  /** recorded and not yet handled, oldest first */
  readonly recorded = new Map<string, Conflict>()
  private readonly kvs = new Map<string, YKeyValue>()
  private current: ConflictPolicy

  constructor (private readonly init: DocConflictsInit) {
    this.current = init.policy
  }

  get policy (): ConflictPolicy {
    return this.current
  }

  /** a new policy; maps made under another one (by name) are destroyed, the next keyValue makes new ones */
  setPolicy (policy: ConflictPolicy): void {
    if (policy === this.current) return
    const renamed = policyName(policy) !== policyName(this.current)
    this.current = policy
    // same name, new resolver: the maps keep working, handleConflict uses the new one
    if (!renamed) return
    this.destroy()
  }

  /** the doc's key-value map `name` under its conflict policy */
  keyValue<V = unknown> (name: string): YKeyValue<V> {
    let kv = this.kvs.get(name)
    if (kv == null) {
      kv = new YKeyValue(this.init.doc.getArray(name), {
        policy: this.current,
        hlc: this.init.hlc,
        peer: this.init.peer,
        name,
        log: this.init.log,
        onConflict: (c) => { this.record(c) }
      })
      this.kvs.set(name, kv)
    }
    return kv as YKeyValue<V>
  }

  /** resolves a recorded conflict by the doc's policy (a custom resolver's failure leaves it recorded) */
  handle (conflictId: string): ConflictOutcome {
    const conflict = this.recorded.get(conflictId)
    if (conflict == null) throw new NotFoundError(`no conflict ${conflictId} in ${this.init.docId}`)
    const kv = this.keyValue(conflict.map)
    const policy = this.current
    const base = { conflictId, docId: this.init.docId, map: conflict.map, key: conflict.key }
    let outcome: ConflictOutcome
    if (typeof policy === 'object') {
      const value = policy.resolve(conflict)
      kv.set(conflict.key, value)
      outcome = { ...base, policy: policy.name ?? 'custom', value }
    } else {
      const winner = conflict.candidates.reduce((a, b) => (compareHlcText(b.hlc, a.hlc) > 0 ? b : a))
      outcome = { ...base, policy, value: kv.get(conflict.key), winner }
    }
    this.recorded.delete(conflictId)
    return outcome
  }

  /** stops every map observing the doc */
  destroy (): void {
    for (const kv of this.kvs.values()) kv.destroy()
    this.kvs.clear()
  }

  private record (c: Omit<Conflict, 'id' | 'docId'>): void {
    const id = 'c' + stableHash(`${c.map}\u0000${c.key}\u0000${c.candidates.map(x => x.hlc).join(',')}`).toString(16)
    const conflict = { ...c, id, docId: this.init.docId }
    this.recorded.set(id, conflict)
    while (this.recorded.size > MAX_CONFLICTS_PER_DOC) {
      const oldest = this.recorded.keys().next().value
      if (oldest == null) break
      this.recorded.delete(oldest)
    }
    this.init.log('document %s: concurrent writes of %s/%s recorded as %s', this.init.docId, c.map, c.key, id)
    this.init.detected(conflict)
  }
}
