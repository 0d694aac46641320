/** `agentmesh start` rebuilds the demo page when its sources are newer than the build. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { demoBuildIsCurrent } from '../../src/cli/demo-build.ts'

describe('demo build freshness', () => {
  it('is current only when a build exists and no source is newer', () => {
    const root = mkdtempSync(join(tmpdir(), 'agentmesh-demo-build-'))
    try {
      const out = join(root, 'dist', 'demo')
      const at = (path: string, seconds: number): void => { utimesSync(path, seconds, seconds) }
      mkdirSync(join(root, 'demo'), { recursive: true })
      writeFileSync(join(root, 'index.html'), '<!doctype html>')
      writeFileSync(join(root, 'demo', 'main.ts'), 'export {}')
      at(join(root, 'index.html'), 1000)
      at(join(root, 'demo', 'main.ts'), 1000)
      at(join(root, 'demo'), 1000)
      assert.equal(demoBuildIsCurrent(root, out), false, 'no build yet')

      mkdirSync(out, { recursive: true })
      writeFileSync(join(out, 'index.html'), 'built')
      at(join(out, 'index.html'), 2000)
      assert.equal(demoBuildIsCurrent(root, out), true, 'built after every source')

      at(join(root, 'demo', 'main.ts'), 3000)
      assert.equal(demoBuildIsCurrent(root, out), false, 'a source edited after the build')
      at(join(out, 'index.html'), 4000)
      assert.equal(demoBuildIsCurrent(root, out), true, 'rebuilt')
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
