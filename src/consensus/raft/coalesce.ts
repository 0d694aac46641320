/**
 * Merges the messages of one Ready bound for one peer where Raft allows it, so fewer, larger
 * messages are encoded, sent and stepped (the driver calls this before handing them to the
 * transport):
 * - consecutive appends of one term where the second continues the first (its previous entry is
 *   the first's last) become one append with all the entries and the higher commit; an empty
 *   append (a commit update) is absorbed by a neighbour with the same previous entry;
 * - consecutive accepted append responses of one term collapse into the one with the highest index
 *   (the leader only ever takes the highest acknowledged index from them).
 * Everything else keeps its place. Inputs are not modified.
 */
import { entrySizeBytes } from './storage.ts'
import { MessageType } from './types.ts'
import type { Entry, Message } from './types.ts'

function lastOf (m: Message): { index: number, term: number } {
  const n = m.entries.length
  return n === 0 ? { index: m.index, term: m.logTerm } : { index: m.entries[n - 1].index, term: m.entries[n - 1].term }
}

function entriesBytes (ents: Entry[]): number {
  let n = 0
  for (const e of ents) n += entrySizeBytes(e)
  return n
}

/** `b` appended to `a`, or undefined when they cannot be one append (or it would exceed maxBytes) */
function mergeAppends (a: Message, b: Message, maxBytes: number): Message | undefined {
  if (a.term !== b.term || a.to !== b.to || a.from !== b.from) return undefined
  if (b.entries.length === 0) {
    // a commit update at a's end (or at a's start when a is empty too)
    const end = lastOf(a)
    if (b.index !== end.index || b.logTerm !== end.term) return undefined
    return { ...a, commit: Math.max(a.commit, b.commit) }
  }
  if (a.entries.length === 0) {
    if (b.index !== a.index || b.logTerm !== a.logTerm) return undefined
    return { ...b, commit: Math.max(a.commit, b.commit) }
  }
  const end = lastOf(a)
  if (b.index !== end.index || b.logTerm !== end.term) return undefined
  if (entriesBytes(a.entries) + entriesBytes(b.entries) > maxBytes) return undefined
  return { ...a, entries: [...a.entries, ...b.entries], commit: Math.max(a.commit, b.commit) }
}

function mergeAppendResponses (a: Message, b: Message): Message | undefined {
  if (a.reject || b.reject || a.term !== b.term || a.to !== b.to || a.from !== b.from) return undefined
  return b.index >= a.index ? b : a
}

/** the messages for one peer with appends (and their responses) merged; maxBytes bounds a merged append's entries */
export function coalesceMessages (msgs: Message[], maxBytes: number): Message[] {
  if (msgs.length < 2) return msgs
  const out: Message[] = []
  for (const m of msgs) {
    const prev = out.at(-1)
    if (prev !== undefined && prev.type === m.type && m.snapshot === undefined && prev.snapshot === undefined) {
      const merged = m.type === MessageType.App
        ? mergeAppends(prev, m, maxBytes)
        : m.type === MessageType.AppResp ? mergeAppendResponses(prev, m) : undefined
      if (merged !== undefined) {
        out[out.length - 1] = merged
        continue
      }
    }
    out.push(m)
  }
  return out
}
