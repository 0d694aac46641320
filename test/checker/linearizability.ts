/**
 * A linearizability checker for histories of concurrent operations: the Wing & Gong search with
 * Lowe's memoization of (set of linearized operations, model state), as in Porcupine, over a
 * history partitioned by key (each key is checked on its own; a history is linearizable iff every
 * partition is).
 *
 * An operation that never returned (no `return`, or `return: Infinity`) may have taken effect at
 * any point after its call, or not at all; its output is unknown, so the model must accept any.
 *
 * Intervals that touch (one returns at the time another is invoked) count as concurrent, the
 * conservative choice.
 *
 * Two reductions keep histories with many unanswered writes tractable (a fault run's bridge
 * partition left ~50 unanswered puts per key among ~400 operations, and the plain search gave up
 * after 2 million steps and 25 minutes): a model may `canonicalize` a partition into an equivalent
 * one (the KV model makes every value nobody observes one value), and among the calls that never
 * returned and are open at the same point, those with equal inputs are interchangeable, so the
 * search tries one of them there, not each.
 */

export interface Operation<I, O> {
  clientId: number | string
  input: I
  /** invocation time */
  call: number
  /** response time; undefined or Infinity when the operation never returned */
  return?: number
  /** the observed output; ignored (unknown) when the operation never returned */
  output?: O
}

export interface Model<S, I, O> {
  /** splits a history into independent parts (by key); default: one part */
  partition?: (history: Array<Operation<I, O>>) => Array<Array<Operation<I, O>>>
  init: () => S
  /**
   * applies `input` to `state`; `output` undefined means unknown (the operation never returned),
   * which the model must accept. Returns whether the output is possible, and the next state.
   */
  step: (state: S, input: I, output: O | undefined) => { ok: boolean, state: S }
  /** a canonical string for a state: equal states, equal strings (for memoization) */
  stateKey: (state: S) => string
  /**
   * true for operations that never change any state (reads). Such an operation whose output fits
   * the current state is linearized at once, without trying alternatives (moving a read earlier
   * never breaks a linearization); one that never returned is dropped (it cannot matter).
   */
  readOnly?: (input: I) => boolean
  /**
   * rewrites one partition into an equivalent one for the search (same length and order, same
   * calls and returns; only inputs and outputs may change): linearizable iff the original is.
   * Verdicts name the original operations.
   */
  canonicalize?: (ops: Array<Operation<I, O>>) => Array<Operation<I, O>>
  /** a string equal for inputs with the same effect on every state (default: JSON of the input) */
  inputKey?: (input: I) => string
  describe?: (op: Operation<I, O>) => string
}

export type CheckResult<I, O> =
  | { outcome: 'ok' }
  | {
    outcome: 'illegal'
    /** the partition that cannot be linearized */
    partition: Array<Operation<I, O>>
    /** the longest order found in which a prefix of that partition is legal */
    longestLinearizable: Array<Operation<I, O>>
    /** a completed operation that no legal order could place (the first by return time left out) */
    unplaceable: Operation<I, O>
    /** human-readable summary */
    message: string
  }
  | { outcome: 'unknown', message: string }

export interface CheckOptions {
  /** search steps per partition before giving up with 'unknown' (default 10 million) */
  maxSteps?: number
  /** wall-clock time for the whole check before giving up with 'unknown', ms (default: none) */
  maxMs?: number
}

const DEFAULT_MAX_STEPS = 10_000_000
/** how many steps go between looks at the clock */
const STEPS_PER_CLOCK_CHECK = 4096

/** a node of the doubly linked list of call and return events, ordered by time */
interface Node {
  id: number
  isCall: boolean
  /** a call's return node */
  match?: Node
  prev?: Node
  next?: Node
}

/** unlinks a call and its return from the list */
function lift (call: Node): void {
  call.prev!.next = call.next
  if (call.next != null) call.next.prev = call.prev
  const ret = call.match!
  ret.prev!.next = ret.next
  if (ret.next != null) ret.next.prev = ret.prev
}

/** puts a lifted call and its return back (in reverse order of lifting) */
function unlift (call: Node): void {
  const ret = call.match!
  ret.prev!.next = ret
  if (ret.next != null) ret.next.prev = ret
  call.prev!.next = call
  if (call.next != null) call.next.prev = call
}

function returnTime<I, O> (op: Operation<I, O>): number {
  return op.return ?? Infinity
}

function buildList<I, O> (ops: Array<Operation<I, O>>): Node {
  const events: Array<{ time: number, node: Node }> = []
  ops.forEach((op, id) => {
    const ret: Node = { id, isCall: false }
    const call: Node = { id, isCall: true, match: ret }
    events.push({ time: op.call, node: call }, { time: returnTime(op), node: ret })
  })
  // by time; at equal times calls first, so touching intervals are concurrent
  events.sort((a, b) => a.time !== b.time ? a.time - b.time : (a.node.isCall === b.node.isCall ? a.node.id - b.node.id : a.node.isCall ? -1 : 1))
  const head: Node = { id: -1, isCall: false }
  let last = head
  for (const { node } of events) {
    last.next = node
    node.prev = last
    last = node
  }
  return head
}

/** a bitset with an incrementally maintained Zobrist hash */
class LinearizedSet {
  readonly words: Uint32Array
  hash = 0
  private readonly zobrist: Uint32Array

  constructor (n: number) {
    this.words = new Uint32Array(Math.ceil(n / 32))
    this.zobrist = new Uint32Array(n)
    let x = 0x9e3779b9
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5
      this.zobrist[i] = x >>> 0
    }
  }

  toggle (i: number): void {
    this.words[i >>> 5] ^= 1 << (i & 31)
    this.hash = (this.hash ^ this.zobrist[i]) >>> 0
  }

  equals (words: Uint32Array): boolean {
    for (let i = 0; i < words.length; i++) if (words[i] !== this.words[i]) return false
    return true
  }
}

/** true when a[i] >= b[i] for every i */
function atLeast (a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] < b[i]) return false
  return true
}

/** ids are indexes into the partition searched */
type PartitionResult =
  | { ok: true }
  | { ok: false, longest: number[], unplaceable: number }
  | { ok: 'unknown', steps: number }

/** where the search stands at one depth: how far it scanned, and the pending calls it put off */
interface Level {
  pos: Node | undefined
  deferred: Node[]
  nextDeferred: number
  /** classes of the never-returned calls tried here: another of a class would lead to the same places */
  triedPending: Set<number> | undefined
}

/**
 * Wing & Gong's search with Lowe's memoization. Refinements for calls that never returned
 * ("pending"): they are tried after every completed call at the same depth, so a write that may
 * never have happened does not make the search try it at every position before finding that
 * leaving it out works; and pending calls with equal inputs form a class whose members are
 * interchangeable once called, so the search counts how many of each class it linearized instead
 * of naming them, and tries one per class at each depth.
 */
function checkPartition<S, I, O> (model: Model<S, I, O>, ops: Array<Operation<I, O>>, maxSteps: number, deadline: number): PartitionResult {
  const head = buildList(ops)
  const pending = ops.map(op => op.return == null || op.return === Infinity)
  /** linearized calls that returned, and those that never did */
  const completed = new LinearizedSet(ops.length)
  const inputKey = model.inputKey ?? ((input: I) => JSON.stringify(input))
  const classes = new Map<string, number>()
  /** a pending call's class: equal inputs, one class */
  const classOf = ops.map((op, id) => {
    if (!pending[id]) return -1
    const key = inputKey(op.input)
    const have = classes.get(key)
    if (have !== undefined) return have
    classes.set(key, classes.size)
    return classes.size - 1
  })
  /** how many pending calls of each class are linearized */
  const used = new Uint32Array(classes.size)
  const mark = (id: number, on: boolean): void => {
    if (pending[id]) used[classOf[id]] += on ? 1 : -1
    else completed.toggle(id)
  }
  const cache = new Map<string, Array<{ completed: Uint32Array, used: Uint32Array }>>()
  const readOnly = ops.map(op => model.readOnly?.(op.input) === true)
  const stack: Array<{ call: Node, state: S, level: Level, forced: boolean }> = []
  let longest: number[] = []
  let state = model.init()
  let level: Level = { pos: head.next, deferred: [], nextDeferred: 0, triedPending: undefined }
  let steps = 0
  /** completed calls not yet linearized; at 0 the rest (calls that never returned) fit at the end */
  let completedLeft = pending.filter(p => !p).length

  /**
   * Lowe's memo, strengthened for calls that never returned: a configuration is skipped when one
   * with the same completed calls linearized, the same state, and no more pending calls of any
   * class linearized was already explored (or is being explored below on the stack). The same
   * completed calls make the same pending calls open (every one called before the first return
   * left), the linearized ones among them; so the other configuration has, per class, at least as
   * many open ones left, and anything this one can finish it can too (pending calls fit at the
   * end). An entry that some new one covers is dropped, so each bucket stays an antichain.
   */
  const seen = (s: S): boolean => {
    const key = `${completed.hash}|${model.stateKey(s)}`
    const bucket = cache.get(key)
    if (bucket == null) {
      cache.set(key, [{ completed: completed.words.slice(), used: used.slice() }])
      return false
    }
    let same = 0
    for (const e of bucket) {
      if (!completed.equals(e.completed)) continue
      if (atLeast(used, e.used)) return true
      same++
    }
    const entry = { completed: completed.words.slice(), used: used.slice() }
    if (same > 0) {
      // entries this one covers (same completed calls, at least as many pending used) are redundant
      const kept = bucket.filter(e => !(completed.equals(e.completed) && atLeast(e.used, used)))
      kept.push(entry)
      cache.set(key, kept)
    } else {
      bucket.push(entry)
    }
    return false
  }

  /** linearizes `call` next if the model allows it and the result is new; true when it did */
  const tryCall = (call: Node): boolean => {
    const op = ops[call.id]
    const { ok, state: next } = model.step(state, op.input, pending[call.id] ? undefined : op.output)
    if (!ok) return false
    mark(call.id, true)
    if (seen(next)) {
      mark(call.id, false)
      return false
    }
    stack.push({ call, state, level, forced: readOnly[call.id] })
    state = next
    lift(call)
    if (!pending[call.id]) completedLeft--
    if (stack.length > longest.length) longest = stack.map(f => f.call.id)
    level = { pos: head.next, deferred: [], nextDeferred: 0, triedPending: undefined }
    return true
  }

  while (completedLeft > 0) {
    if (++steps > maxSteps || (steps % STEPS_PER_CLOCK_CHECK === 0 && performance.now() > deadline)) return { ok: 'unknown', steps }
    const entry = level.pos
    if (entry?.isCall === true) {
      level.pos = entry.next
      if (pending[entry.id]) level.deferred.push(entry)
      else tryCall(entry)
      continue
    }
    // a return (or the end): nothing completed can go next, so try the calls put off
    if (level.nextDeferred < level.deferred.length) {
      // calls that never returned with equal inputs, all open here, are interchangeable: whatever
      // follows one of them going next follows the other (swap them everywhere after), so one is tried
      const call = level.deferred[level.nextDeferred++]
      const tried = level.triedPending ??= new Set()
      if (tried.has(classOf[call.id])) continue
      tried.add(classOf[call.id])
      tryCall(call)
      continue
    }
    // dead end: backtrack, past reads linearized greedily (no alternative to them can help)
    let top = stack.pop()
    while (top?.forced === true) {
      state = top.state
      mark(top.call.id, false)
      unlift(top.call)
      completedLeft++
      top = stack.pop()
    }
    if (top == null) {
      const placed = new Set(longest)
      const missing = ops.map((op, id) => ({ op, id })).filter(({ id }) => !placed.has(id) && !pending[id])
        .sort((a, b) => returnTime(a.op) - returnTime(b.op))
      return { ok: false, longest, unplaceable: missing[0].id }
    }
    state = top.state
    mark(top.call.id, false)
    unlift(top.call)
    if (!pending[top.call.id]) completedLeft++
    level = top.level
  }
  return { ok: true }
}

/** checks a whole history against a model */
export function checkOperations<S, I, O> (model: Model<S, I, O>, history: Array<Operation<I, O>>, options: CheckOptions = {}): CheckResult<I, O> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS
  const deadline = performance.now() + (options.maxMs ?? Infinity)
  for (const op of history) {
    if (!Number.isFinite(op.call)) throw new RangeError('every operation needs a finite call time')
    if (op.return != null && op.return < op.call) throw new RangeError('an operation returned before it was called')
  }
  const matters = (op: Operation<I, O>): boolean => !(model.readOnly?.(op.input) === true && (op.return == null || op.return === Infinity))
  const partitions = (model.partition?.(history) ?? [history]).map(part => part.filter(matters))
  const gaveUp: string[] = []
  for (const part of partitions) {
    const r = checkPartition(model, model.canonicalize?.(part) ?? part, maxSteps, deadline)
    if (r.ok === 'unknown') {
      const pendingOps = part.filter(op => op.return == null || op.return === Infinity).length
      gaveUp.push(`a partition of ${part.length} operations (${pendingOps} never returned) after ${r.steps} steps`)
      continue
    }
    if (!r.ok) {
      const describe = model.describe ?? ((op: Operation<I, O>) => JSON.stringify(op))
      const longest = r.longest.map(id => part[id])
      const unplaceable = part[r.unplaceable]
      return {
        outcome: 'illegal',
        partition: part,
        longestLinearizable: longest,
        unplaceable,
        message: `not linearizable: no legal order places ${describe(unplaceable)}; longest legal prefix:\n  ` +
          longest.map(describe).join('\n  ')
      }
    }
  }
  const budget = `${maxSteps} steps per partition${options.maxMs !== undefined ? ` or ${options.maxMs} ms` : ''}`
  return gaveUp.length > 0 ? { outcome: 'unknown', message: `the search gave up (budget ${budget}) on ${gaveUp.join('; ')}` } : { outcome: 'ok' }
}

// ---- a key-value register model, partitioned by key ----

export type KvInput =
  | { op: 'get', key: string }
  | { op: 'put', key: string, value: string }
  | { op: 'delete', key: string }
  /** put `value` if the current value equals `expect` (undefined: absent) */
  | { op: 'cas', key: string, expect: string | undefined, value: string }

export interface KvOutput {
  /** get: the value read (undefined: absent) */
  value?: string
  /** cas: whether it swapped */
  ok?: boolean
}

export type KvOperation = Operation<KvInput, KvOutput>

function partitionByKey (history: KvOperation[]): KvOperation[][] {
  const byKey = new Map<string, KvOperation[]>()
  for (const op of history) {
    const list = byKey.get(op.input.key)
    if (list == null) byKey.set(op.input.key, [op])
    else list.push(op)
  }
  return [...byKey.values()]
}

/** what the KV model writes for every value that no completed read returned and no cas expected */
const UNOBSERVED = '\u0000unobserved'

/**
 * The register's behaviour depends on a value only through reads that return it and cas that
 * expect it: values no completed get returned and no cas expected (most writes that timed out,
 * and writes overwritten before anyone read them) act alike, so they become one value. Each such
 * write still changes the state (a cas expecting the value before it then fails).
 */
function canonicalizeKv (ops: KvOperation[]): KvOperation[] {
  const observed = new Set<string | undefined>()
  for (const op of ops) {
    if (op.input.op === 'get' && op.return != null && op.return !== Infinity) observed.add(op.output?.value)
    if (op.input.op === 'cas') observed.add(op.input.expect)
  }
  return ops.map(op => (op.input.op === 'put' || op.input.op === 'cas') && !observed.has(op.input.value)
    ? { ...op, input: { ...op.input, value: UNOBSERVED } }
    : op)
}

/** each key is an independent register holding a string or nothing */
export const kvModel: Model<string | undefined, KvInput, KvOutput> = {
  partition: partitionByKey,
  init: () => undefined,
  step (state, input, output) {
    switch (input.op) {
      case 'get': return { ok: output === undefined || output.value === state, state }
      case 'put': return { ok: true, state: input.value }
      case 'delete': return { ok: true, state: undefined }
      case 'cas': {
        const swaps = state === input.expect
        return { ok: output === undefined || output.ok === swaps, state: swaps ? input.value : state }
      }
    }
  },
  stateKey: (state) => state === undefined ? '\u0000' : 'v' + state,
  readOnly: (input) => input.op === 'get',
  canonicalize: canonicalizeKv,
  describe: (op) => {
    const i = op.input
    const args = i.op === 'put' ? `(${i.key}, ${i.value})` : i.op === 'cas' ? `(${i.key}, ${String(i.expect)} -> ${i.value})` : `(${i.key})`
    const out = op.return == null || op.return === Infinity ? 'pending' : i.op === 'get' ? `-> ${String(op.output?.value)}` : i.op === 'cas' ? `-> ${String(op.output?.ok)}` : 'ok'
    return `client ${op.clientId} [${op.call}, ${op.return ?? '∞'}] ${i.op}${args} ${out}`
  }
}
