/**
 * `npm run docs:api` generates the API reference: TypeDoc, run with TypeScript 5 (the `typescript5`
 * alias) over src/index.ts, writes HTML pages for the public API. (In test:sim: it takes ~20 s.)
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('docs:api', () => {
  it('writes the API reference for createNode and the five components', { timeout: 120_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'agentmesh-api-'))
    try {
      const child = spawn(process.execPath, [join(ROOT, 'scripts/docs-api.js'), '--out', join(out, 'html'), '--json', join(out, 'api.json')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      let output = ''
      child.stdout.on('data', (d: Buffer) => { output += d.toString() })
      child.stderr.on('data', (d: Buffer) => { output += d.toString() })
      const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
      assert.equal(code, 0, output)
      assert.match(output, /TypeScript 5\./)
      assert.ok(existsSync(join(out, 'html', 'index.html')), 'index.html written')
      const api = JSON.parse(readFileSync(join(out, 'api.json'), 'utf8')) as { children?: Array<{ name: string }> }
      const names = new Set((api.children ?? []).map(c => c.name))
      for (const name of ['createNode', 'defineAgent', 'NetworkManager', 'MessageBroker', 'ConsensusManager', 'DistributedAgentManager', 'MonitoringSystem']) {
        assert.ok(names.has(name), `${name} is documented`)
      }
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })
})
