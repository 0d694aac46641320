/**
 * The Store contract, as one suite every backend runs (memory, LevelDB, IndexedDB).
 * Platform-neutral: no node: imports. The caller hands in its runner's describe/it/afterEach
 * (node:test in Node, mocha globals in the browser), and assertions are the small ones below.
 */
import type { Store } from '../../src/storage/types.ts'
import { seededRng } from '../../src/util/prng.ts'

/** the test functions of whichever runner runs the suite */
export interface TestApi {
  describe: (name: string, fn: () => void) => unknown
  it: (name: string, fn: () => Promise<void>) => unknown
  afterEach: (fn: () => Promise<void>) => unknown
}

function fail (message: string): never {
  throw new Error(`assertion failed: ${message}`)
}

const show = (v: unknown): string => JSON.stringify(v, (_k, x) => x instanceof Uint8Array ? [...x] : x === undefined ? '<undefined>' : x)

interface Assertions {
  ok: (cond: unknown, message?: string) => asserts cond
  equal: (actual: unknown, expected: unknown, message?: string) => void
  deepEqual: (actual: unknown, expected: unknown, message?: string) => void
  rejects: (p: Promise<unknown>, expected: { name: string }) => Promise<void>
}

const assert: Assertions = {
  ok (cond: unknown, message = 'expected a truthy value'): asserts cond {
    if (cond == null || cond === false) fail(message)
  },
  equal (actual: unknown, expected: unknown, message = ''): void {
    if (!Object.is(actual, expected)) fail(`${message} expected ${show(expected)}, got ${show(actual)}`)
  },
  deepEqual (actual: unknown, expected: unknown, message = ''): void {
    if (show(actual) !== show(expected)) fail(`${message} expected ${show(expected)}, got ${show(actual)}`)
  },
  async rejects (p: Promise<unknown>, expected: { name: string }): Promise<void> {
    try {
      await p
    } catch (err) {
      if ((err as Error)?.name !== expected.name) fail(`expected ${expected.name}, got ${String((err as Error)?.name)}: ${String((err as Error)?.message)}`)
      return
    }
    fail(`expected a rejection with ${expected.name}`)
  }
}

export interface StoreHarness {
  /** a new, empty store */
  open: () => Promise<Store>
  /** durable backends: open the data of `store` again after it was closed */
  reopen?: (store: Store) => Promise<Store>
  /** removes whatever open() created (after the store is closed) */
  destroy?: (store: Store) => Promise<void>
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | undefined): string | undefined => b == null ? undefined : new TextDecoder().decode(b)

async function collect (it: AsyncIterable<[string, Uint8Array]>): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  for await (const [k, v] of it) out.push([k, dec(v) ?? ''])
  return out
}

async function keysOf (it: AsyncIterable<[string, Uint8Array]>): Promise<string[]> {
  return (await collect(it)).map(([k]) => k)
}

export function storeContract (name: string, harness: StoreHarness, { describe, it, afterEach }: TestApi): void {
  describe(`Store contract: ${name}`, () => {
    const opened: Store[] = []
    const open = async (): Promise<Store> => {
      const s = await harness.open()
      opened.push(s)
      return s
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) {
        await s.close().catch(() => {})
        await harness.destroy?.(s)
      }
    })

    it('puts, gets and deletes values; absent keys read as undefined', async () => {
      const s = await open()
      assert.equal(await s.get('a'), undefined)
      await s.put('a', enc('1'))
      await s.put('b', enc('2'))
      assert.equal(dec(await s.get('a')), '1')
      await s.put('a', enc('3'))
      assert.equal(dec(await s.get('a')), '3')
      await s.del('a')
      assert.equal(await s.get('a'), undefined)
      await s.del('never-existed')
      assert.equal(dec(await s.get('b')), '2')
    })

    it('stores empty and arbitrary binary values exactly', async () => {
      const s = await open()
      const all = new Uint8Array(256).map((_, i) => i)
      await s.put('empty', new Uint8Array(0))
      await s.put('bytes', all)
      const empty = await s.get('empty')
      assert.ok(empty instanceof Uint8Array)
      assert.equal(empty.byteLength, 0)
      assert.deepEqual([...(await s.get('bytes')) ?? []], [...all])
    })

    it('hands out copies: mutating an input or a result does not change what is stored', async () => {
      const s = await open()
      const v = enc('abc')
      await s.put('k', v)
      v[0] = 0x7a
      const got = await s.get('k')
      assert.equal(dec(got), 'abc')
      got![0] = 0x7a
      assert.equal(dec(await s.get('k')), 'abc')
    })

    it('applies a batch of puts and deletes in order', async () => {
      const s = await open()
      await s.put('x', enc('old'))
      await s.batch([
        { type: 'put', key: 'a', value: enc('1') },
        { type: 'del', key: 'x' },
        { type: 'put', key: 'b', value: enc('2') },
        { type: 'put', key: 'c', value: enc('3') },
        { type: 'del', key: 'c' },
        { type: 'put', key: 'a', value: enc('4') }
      ])
      assert.deepEqual(await collect(s.entries()), [['a', '4'], ['b', '2']])
      await s.batch([])
      assert.deepEqual(await keysOf(s.entries()), ['a', 'b'])
    })

    it('iterates in key order within [gte, lt), reversed and limited', async () => {
      const s = await open()
      const keys = ['log/0003', 'a', 'log/0001', 'log/0010', 'm', 'log/0002', 'z']
      for (const k of keys) await s.put(k, enc(k.toUpperCase()))
      assert.deepEqual(await keysOf(s.entries()), [...keys].sort())
      assert.deepEqual(await keysOf(s.entries({ gte: 'log/', lt: 'log/\uffff' })), ['log/0001', 'log/0002', 'log/0003', 'log/0010'])
      assert.deepEqual(await keysOf(s.entries({ gte: 'log/0002' })), ['log/0002', 'log/0003', 'log/0010', 'm', 'z'])
      assert.deepEqual(await keysOf(s.entries({ lt: 'log/0002' })), ['a', 'log/0001'])
      assert.deepEqual(await keysOf(s.entries({ gte: 'log/', lt: 'log/\uffff', reverse: true })), ['log/0010', 'log/0003', 'log/0002', 'log/0001'])
      assert.deepEqual(await keysOf(s.entries({ limit: 2 })), ['a', 'log/0001'])
      assert.deepEqual(await keysOf(s.entries({ reverse: true, limit: 2 })), ['z', 'm'])
      assert.deepEqual(await keysOf(s.entries({ gte: 'log/0001', lt: 'log/0010', reverse: true, limit: 2 })), ['log/0003', 'log/0002'])
      assert.deepEqual(await keysOf(s.entries({ limit: 0 })), [])
      assert.deepEqual(await keysOf(s.entries({ gte: 'q', lt: 'b' })), [])
      assert.deepEqual(await keysOf(s.entries({ gte: 'm', lt: 'm' })), [])
      assert.deepEqual(await collect(s.entries({ gte: 'm', limit: 1 })), [['m', 'M']])
    })

    it('iterates past internal chunk sizes without losing or repeating entries', async () => {
      const s = await open()
      const n = 700
      const ops = Array.from({ length: n }, (_, i) => ({ type: 'put' as const, key: `k/${String(i).padStart(5, '0')}`, value: enc(String(i)) }))
      await s.batch(ops)
      const fwd = await keysOf(s.entries({ gte: 'k/', lt: 'k/\uffff' }))
      assert.equal(fwd.length, n)
      assert.deepEqual(fwd, ops.map(o => o.key))
      const rev = await keysOf(s.entries({ reverse: true }))
      assert.deepEqual(rev, ops.map(o => o.key).reverse())
      assert.equal((await keysOf(s.entries({ limit: 300 }))).length, 300)
      assert.deepEqual(await keysOf(s.entries({ reverse: true, limit: 300 })), ops.map(o => o.key).reverse().slice(0, 300))
    })

    it('lets the consumer await between entries while iterating', async () => {
      const s = await open()
      for (let i = 0; i < 5; i++) await s.put(`k${i}`, enc(String(i)))
      const seen: string[] = []
      for await (const [k] of s.entries()) {
        seen.push(k)
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      assert.deepEqual(seen, ['k0', 'k1', 'k2', 'k3', 'k4'])
    })

    it('clears a range and leaves the rest', async () => {
      const s = await open()
      for (const k of ['a', 'b/1', 'b/2', 'b/3', 'c']) await s.put(k, enc(k))
      await s.clear({ gte: 'b/', lt: 'b/\uffff' })
      assert.deepEqual(await keysOf(s.entries()), ['a', 'c'])
      await s.clear({ gte: 'q', lt: 'b' })
      assert.deepEqual(await keysOf(s.entries()), ['a', 'c'])
      await s.clear()
      assert.deepEqual(await keysOf(s.entries()), [])
    })

    it('sub-stores see their own keys only, without the prefix, and nest', async () => {
      const s = await open()
      const a = s.sub('a/')
      const b = s.sub('b/')
      await a.put('x', enc('ax'))
      await a.put('y', enc('ay'))
      await b.put('x', enc('bx'))
      await s.put('top', enc('t'))
      assert.equal(dec(await a.get('x')), 'ax')
      assert.equal(dec(await b.get('x')), 'bx')
      assert.equal(dec(await s.get('a/x')), 'ax')
      assert.deepEqual(await collect(a.entries()), [['x', 'ax'], ['y', 'ay']])
      assert.deepEqual(await keysOf(a.entries({ reverse: true, limit: 1 })), ['y'])
      assert.deepEqual(await keysOf(a.entries({ gte: 'y' })), ['y'])
      const nested = a.sub('n/')
      await nested.put('1', enc('n1'))
      assert.equal(dec(await s.get('a/n/1')), 'n1')
      assert.deepEqual(await keysOf(nested.entries()), ['1'])
      await a.batch([{ type: 'del', key: 'x' }, { type: 'put', key: 'z', value: enc('az') }])
      assert.deepEqual(await keysOf(a.entries()), ['n/1', 'y', 'z'])
      await a.clear()
      assert.deepEqual(await keysOf(a.entries()), [])
      assert.deepEqual(await keysOf(s.entries()), ['b/x', 'top'])
      await b.del('x')
      assert.deepEqual(await keysOf(s.entries()), ['top'])
    })

    it('matches a simple model under a seeded random workload', async () => {
      const seed = 7331
      const rng = seededRng(seed)
      const s = await open()
      const model = new Map<string, string>()
      const key = (): string => `r/${String(rng.int(40)).padStart(2, '0')}`
      for (let step = 0; step < 300; step++) {
        const r = rng.int(10)
        if (r < 5) {
          const k = key(); const v = String(rng.int(1000))
          await s.put(k, enc(v)); model.set(k, v)
        } else if (r < 7) {
          const k = key(); await s.del(k); model.delete(k)
        } else if (r < 9) {
          const ops = Array.from({ length: 1 + rng.int(5) }, () => rng.int(2) === 0
            ? { type: 'put' as const, key: key(), value: enc(String(rng.int(1000))) }
            : { type: 'del' as const, key: key() })
          await s.batch(ops)
          for (const op of ops) {
            if (op.type === 'put') model.set(op.key, dec(op.value)!)
            else model.delete(op.key)
          }
        } else {
          const lo = key(); const hi = key()
          const reverse = rng.int(2) === 0
          const limit = rng.int(3) === 0 ? rng.int(5) : undefined
          let expected = [...model.entries()].filter(([k]) => k >= lo && k < hi).sort(([x], [y]) => x < y ? -1 : 1)
          if (reverse) expected.reverse()
          if (limit != null) expected = expected.slice(0, limit)
          assert.deepEqual(await collect(s.entries({ gte: lo, lt: hi, reverse, limit })), expected, `seed ${seed} step ${step}`)
        }
      }
      assert.deepEqual(await collect(s.entries()), [...model.entries()].sort(([x], [y]) => x < y ? -1 : 1), `seed ${seed}`)
    })

    if (harness.reopen != null) {
      const reopen = harness.reopen
      it('keeps acknowledged writes, batches and clears across close and reopen', async () => {
        const s = await open()
        await s.put('a', enc('1'))
        await s.batch([{ type: 'put', key: 'b', value: enc('2') }, { type: 'put', key: 'c', value: enc('3') }, { type: 'del', key: 'a' }])
        await s.sub('p/').put('q', enc('pq'))
        await s.put('d/1', enc('d1'))
        await s.put('d/2', enc('d2'))
        await s.clear({ gte: 'd/', lt: 'd/\uffff' })
        await s.close()
        const again = await reopen(s)
        opened.push(again)
        assert.deepEqual(await collect(again.entries()), [['b', '2'], ['c', '3'], ['p/q', 'pq']])
        await again.put('e', enc('5'))
        await again.close()
        const third = await reopen(s)
        opened.push(third)
        assert.equal(dec(await third.get('e')), '5')
      })

      it('refuses operations on a closed store with StorageError', async () => {
        const s = await open()
        await s.close()
        await assert.rejects(s.get('a'), { name: 'StorageError' })
        await assert.rejects(s.put('a', enc('1')), { name: 'StorageError' })
      })
    }
  })
}
