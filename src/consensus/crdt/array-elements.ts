/**
 * Element-level access to a Y.Array by Yjs ids, without index arithmetic: what a transaction added
 * to or deleted from one array (read from the transaction's state vectors and delete set, so the
 * cost follows the size of the change, not of the array), deleting one element by its id, and the
 * relative order of a few elements near the end of the array.
 *
 * An element's id is its item's id plus its offset in the item; ids stay valid while items are
 * split and merged, so they are the stable handle of an element.
 */
import * as Y from 'yjs'

/** calls `f` for every element of `parent` that the transaction inserted and did not delete again */
export function forEachAddedElement<T> (tr: Y.Transaction, parent: Y.Array<T>, f: (value: unknown, id: Y.ID) => void): void {
  const clients = tr.doc.store.clients
  for (const [client, after] of tr.afterState) {
    const before = tr.beforeState.get(client) ?? 0
    if (after <= before) continue
    const structs = clients.get(client)
    if (structs == null) continue
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const s = structs[i]
      if (s.id.clock >= after) break
      if (!(s instanceof Y.Item) || s.deleted || s.parent !== parent || !s.countable) continue
      const values = s.content.getContent()
      for (let j = 0; j < values.length; j++) {
        const clock = s.id.clock + j
        if (clock >= before && clock < after) f(values[j], Y.createID(client, clock))
      }
    }
  }
}

/** calls `f` for every element of `parent` that the transaction deleted (content still readable) */
export function forEachDeletedElement<T> (tr: Y.Transaction, parent: Y.Array<T>, f: (value: unknown, id: Y.ID) => void): void {
  Y.iterateDeletedStructs(tr, tr.deleteSet, s => {
    if (!(s instanceof Y.Item) || s.parent !== parent || !s.countable) return
    const values = s.content.getContent()
    for (let j = 0; j < values.length; j++) f(values[j], Y.createID(s.id.client, s.id.clock + j))
  })
}

/**
 * deletes the one element with this id (splitting its item as needed); call inside a transaction
 * on the array's doc. Yjs's index cache of the array is reset, as its UndoManager does after
 * deleting items directly, so index-based calls on the array stay right.
 */
export function deleteElement<T> (tr: Y.Transaction, parent: Y.Array<T>, id: Y.ID): void {
  Y.getItemCleanStart(tr, id)
  const item = Y.getItemCleanEnd(tr, tr.doc.store, id)
  if (item.deleted) return
  item.delete(tr)
  if (parent._searchMarker != null && parent._searchMarker.length > 0) parent._searchMarker.length = 0
}

/**
 * appends `value` at the end of `parent` without walking the array: `tail` is any item the caller
 * saw at or near the end (the item this returned last time); the walk to the end starts there.
 * Yjs's push walks from its rightmost index marker, or from the first item when it has none (as
 * after deleteElement), so a correct marker on the last item is put in place first. Returns the
 * new last item, to pass as `tail` next time. Call inside a transaction on the array's doc.
 */
export function appendElement<T> (parent: Y.Array<T>, value: T, tail: Y.Item | null): Y.Item {
  let last = attachedItem(parent, tail) ?? parent._start
  if (last != null) {
    while (last.right != null) last = last.right
    const markers = parent._searchMarker
    if (markers != null) {
      const index = parent.length - (last.countable && !last.deleted ? last.length : 0)
      // the rightmost marker (usually the one put here last time) moves to the end
      const top = markers.length === 0 ? undefined : markers.reduce((a, b) => (b.index > a.index ? b : a))
      if (top == null) {
        markers.push({ p: last, index, timestamp: 0 })
      } else if (top.p !== last) {
        top.p.marker = false
        top.p = last
        top.index = index
      }
      last.marker = true
    }
  }
  const id = nextLocalId(parent.doc!)
  parent.push([value])
  return Y.getItem(parent.doc!.store, id)
}

/** `item` if it is still linked into `parent`'s list, else its nearest linked left neighbour (items merged away are unlinked) */
function attachedItem<T> (parent: Y.Array<T>, item: Y.Item | null): Y.Item | null {
  let it = item
  while (it != null && it.parent === parent) {
    if (it.left == null ? parent._start === it : it.left.right === it) return it
    it = it.left
  }
  return null
}

/** the id the next element this doc inserts will get */
export function nextLocalId (doc: Y.Doc): Y.ID {
  return Y.createID(doc.clientID, Y.getState(doc.store, doc.clientID))
}

export function sameId (a: Y.ID, b: Y.ID): boolean {
  return a.client === b.client && a.clock === b.clock
}

/**
 * how far each of `ids` (elements of one array, all present) sits from the array's end, counted in
 * elements including deleted ones: 0 is the last. Walks from the end leftwards until all are found,
 * so elements written recently (near the end) cost little to order.
 */
export function distancesFromEnd (doc: Y.Doc, ids: Y.ID[]): Map<Y.ID, number> {
  const out = new Map<Y.ID, number>()
  if (ids.length === 0) return out
  const byClient = new Map<number, Y.ID[]>()
  for (const id of ids) {
    let list = byClient.get(id.client)
    if (list == null) { list = []; byClient.set(id.client, list) }
    list.push(id)
  }
  let end: Y.Item = Y.getItem(doc.store, ids[0])
  while (end.right != null) end = end.right
  let distance = 0
  for (let it: Y.Item | null = end; it != null && out.size < ids.length; it = it.left) {
    const list = byClient.get(it.id.client)
    if (list != null) {
      const last = it.id.clock + it.length - 1
      for (const id of list) {
        if (id.clock >= it.id.clock && id.clock <= last) out.set(id, distance + last - id.clock)
      }
    }
    distance += it.length
  }
  return out
}
