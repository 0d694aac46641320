/**
 * Transcript tests: every testdata/*.txt is a list of commands with the output they must produce
 * (see interaction.ts). REWRITE=1 regenerates the files; review the diff before committing it.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runTranscript } from './interaction.ts'

const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'testdata')
const files = readdirSync(dir).filter(f => f.endsWith('.txt')).sort()

describe('raft transcripts', () => {
  it('finds the transcript files', () => {
    assert.ok(files.length >= 7, `expected transcripts in ${dir}`)
  })
  for (const f of files) {
    it(f, () => {
      const path = join(dir, f)
      const text = readFileSync(path, 'utf8')
      const { actual, cases } = runTranscript(text)
      if (process.env.REWRITE === '1') {
        writeFileSync(path, actual)
        return
      }
      for (const c of cases) {
        assert.equal(c.actual, c.expected, `${f}:${c.line}: ${c.commandText}`)
      }
    })
  }
})
