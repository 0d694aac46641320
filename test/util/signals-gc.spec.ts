import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('combineSignals under garbage collection', () => {
  it('a deadline fires even when nothing but the awaiting code references the signal', () => {
    // in a child with --expose-gc: 50 races on combined signals with forced GC in between
    const script = `
      import { combineSignals, raceSignal } from './src/util/abort.ts'
      let settled = 0
      await Promise.all(Array.from({ length: 50 }, async () => {
        try { await raceSignal(new Promise(() => {}), combineSignals([new AbortController().signal], 100)) } catch (err) { if (err.name === 'TimeoutError') settled++ }
      }).concat([(async () => { for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise(r => setTimeout(r, 20)) } })()]))
      console.log('settled', settled)
    `
    const keepAlive = 'setTimeout(() => {}, 3000);'
    const r = spawnSync(process.execPath, ['--expose-gc', '--conditions=agentmesh-source', '--import', 'tsx', '--input-type=module', '-e', keepAlive + script], { cwd: root, encoding: 'utf8', timeout: 30_000 })
    assert.match(r.stdout, /settled 50/, r.stderr)
  })
})
