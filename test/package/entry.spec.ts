import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('the agentmesh package entry', () => {
  it('resolves by its own name in Node, with createNode and the typed errors', async () => {
    const mod = await import('agentmesh')
    assert.equal(typeof mod.createNode, 'function')
    assert.equal(new mod.NotFoundError('x').name, 'NotFoundError')
    assert.match(mod.VERSION, /^\d+\.\d+\.\d+/)
  })

  it('bundles for browsers with the browser platform files and no Node-only modules', async () => {
    const result = await build({
      stdin: { contents: "export { createNode } from 'agentmesh'", resolveDir: root },
      bundle: true, write: false, format: 'esm', platform: 'browser', metafile: true, logLevel: 'silent',
      conditions: ['agentmesh-source', 'browser'], define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
    })
    const inputs = Object.keys(result.metafile.inputs)
    assert.ok(inputs.some(f => f.endsWith('src/platform/libp2p.browser.ts')), 'browser transports')
    assert.ok(inputs.some(f => f.endsWith('src/platform/storage.browser.ts')), 'IndexedDB storage')
    for (const banned of ['libp2p.node.ts', 'storage.node.ts', 'classic-level', 'node-datachannel', 'prom-client', 'react-native-webrtc']) {
      assert.ok(!inputs.some(f => f.includes(banned)), `${banned} must not be in the browser bundle`)
    }
  })
})
