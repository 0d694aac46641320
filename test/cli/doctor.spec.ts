/** `agentmesh doctor`: the connectivity self-test against a running relay, and against nothing. */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { main } from '../../src/cli/main.ts'
import { parseDoctorArgs } from '../../src/cli/doctor.ts'
import { startProcess, type PeerProcess } from '../helpers/processes.ts'

async function run (...argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await main(['doctor', ...argv], { stdout: { write: (s: string) => { out += s } }, stderr: { write: (s: string) => { err += s } } })
  return { code, out, err }
}

/** a port nothing listens on (bound, then released) */
async function closedPort (): Promise<number> {
  return await new Promise(resolve => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => { resolve(typeof a === 'object' && a != null ? a.port : 0) })
    })
  })
}

describe('agentmesh doctor', () => {
  let relay: PeerProcess

  before(async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0'])
  })
  after(async () => {
    assert.equal(await relay.stop(), 0)
  })

  it('passes the relay checks against a running relay', async () => {
    const r = await run('--http', relay.ready.http, '--demo', 'none')
    // a relay alone is degraded (no other peers, no Raft majority yet): a note, not a failure
    assert.match(r.out, /^(ok {3}|note )relay admin API: .*says (ok|degraded)/m)
    assert.match(r.out, /^ok {3}relay WebSocket \(browsers\): 127\.0\.0\.1:\d+ opens/m)
    assert.match(r.out, /^ok {3}relay TCP \(Node peers\): 127\.0\.0\.1:\d+ opens/m)
    assert.match(r.out, /^note reachable from elsewhere: .*loopback/m)
    assert.doesNotMatch(r.out, /^\w+ +demo page:/m)
  })

  it('names what failed when nothing runs there, and exits 1', async () => {
    const port = await closedPort()
    const r = await run('--http', `http://127.0.0.1:${port}`, '--demo', 'none', '--timeout-ms', '2000')
    assert.equal(r.code, 1)
    assert.match(r.out, /^FAIL relay admin API: nothing answers at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is `npm start` running\?/m)
  })

  it('fails the demo check when the page does not hand out this relay', async () => {
    const port = await closedPort()
    const r = await run('--http', relay.ready.http, '--demo', `http://127.0.0.1:${port}`)
    assert.equal(r.code, 1)
    assert.match(r.out, /^FAIL demo page: http:\/\/127\.0\.0\.1:\d+\/bootstrap\.json: ECONNREFUSED/m)
  })

  it('refuses bad flags with a line naming the flag (exit 2)', async () => {
    assert.deepEqual(await run('--port', '1'), { code: 2, out: '', err: 'agentmesh: unknown flag --port for doctor (expected --http, --demo, --timeout-ms)\n' })
    assert.equal((await run('--http', 'ftp://x')).code, 2)
    assert.equal((await run('--timeout-ms', '5')).code, 2)
    assert.equal(parseDoctorArgs(['--help']), 'help')
    assert.match((await run('--help')).out, /^usage: agentmesh doctor/)
  })
})
