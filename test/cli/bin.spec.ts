import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const bin = fileURLToPath(new URL('../../bin/agentmesh.js', import.meta.url))

/** runs the real bin in a fresh node (no test-runner flags), from another cwd */
async function run (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', d => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', d => { stderr += d })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
    child.on('error', reject)
    child.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

function oneErrorLine (stderr: string): string {
  const lines = stderr.split('\n').filter(l => l.length > 0)
  assert.equal(lines.length, 1, `expected one line on stderr, got ${JSON.stringify(stderr)}`)
  return lines[0]
}

describe('bin/agentmesh.js', () => {
  it('exits 2 with one line naming an unknown flag', async () => {
    const r = await run('--bogus')
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(oneErrorLine(r.stderr), /^agentmesh: unknown flag --bogus\b/)
    const r2 = await run('relay', '--prot', '1')
    assert.equal(r2.code, 2)
    assert.match(oneErrorLine(r2.stderr), /^agentmesh: unknown flag --prot for agentmesh relay \(did you mean --port\?\)$/)
  })

  it('exits 2 on a bad value, naming the flag and the value', async () => {
    const r = await run('relay', '--port', 'abc')
    assert.equal(r.code, 2)
    assert.equal(oneErrorLine(r.stderr), 'agentmesh: --port must be an integer 0-65535, got "abc"')
    const n = await run('node')
    assert.equal(n.code, 2)
    assert.match(oneErrorLine(n.stderr), /--bootstrap is required/)
  })

  it('--help prints usage and exits 0; --version prints the package version', async () => {
    const h = await run('--help')
    assert.equal(h.code, 0)
    assert.equal(h.stderr, '')
    assert.match(h.stdout, /^usage: agentmesh <command>/)
    const nh = await run('node', '--help')
    assert.equal(nh.code, 0)
    assert.match(nh.stdout, /^usage: agentmesh node --bootstrap/)
    const v = await run('--version')
    assert.equal(v.code, 0)
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }
    assert.equal(v.stdout, `agentmesh ${pkg.version}\n`)
  })

  it('exits 1 with one line when a command fails to start (admin port taken)', async () => {
    const blocker = createServer()
    await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      const r = await run('relay', '--port', '0', '--http-port', String(port))
      assert.equal(r.code, 1)
      assert.equal(r.stdout, '')
      assert.match(oneErrorLine(r.stderr), new RegExp(`^agentmesh: ConflictError: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use$`))
    } finally {
      await new Promise(resolve => blocker.close(resolve))
    }
  })
})
