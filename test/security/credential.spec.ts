import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ManualClock } from '../../src/util/clock.ts'
import {
  FloodGuard, MembershipAuthority, PeerRateLimiter, decodeCredential, isControlTopic, issueCredential,
  privateKeyFromText, privateKeyToText, publicKeyFromText, publicKeyToText, signCredential, verifyCredential
} from '../../src/security/index.ts'

const T0 = 1_700_000_000_000

async function setup () {
  const admin = await generateKeyPair('Ed25519')
  const peerKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(peerKey).toString()
  return { admin, peerId }
}

describe('membership credentials', () => {
  it('a credential signed by the admin key verifies for its peer, mesh and lifetime', async () => {
    const { admin, peerId } = await setup()
    const text = await signCredential(admin, { mesh: 'm', peerId, roles: ['voter', 'host'], expiry: T0 + 60_000 }, T0)
    const c = await verifyCredential(text, admin.publicKey, { peerId, mesh: 'm', now: T0 + 1000 })
    assert.deepEqual(c, { mesh: 'm', peerId, roles: ['voter', 'host'], expiry: T0 + 60_000, issuedAt: T0 })
    assert.deepEqual(decodeCredential(text).credential, c)
  })

  it('refuses a forged, borrowed, foreign-mesh, expired or malformed credential with typed errors', async () => {
    const { admin, peerId } = await setup()
    const forger = await generateKeyPair('Ed25519')
    const forged = await signCredential(forger, { mesh: 'm', peerId, roles: ['voter'], expiry: T0 + 60_000 }, T0)
    await assert.rejects(verifyCredential(forged, admin.publicKey, { peerId, mesh: 'm', now: T0 }), { name: 'UnauthorizedError' })
    const good = await signCredential(admin, { mesh: 'm', peerId, roles: ['voter'], expiry: T0 + 60_000 }, T0)
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await assert.rejects(verifyCredential(good, admin.publicKey, { peerId: other, mesh: 'm', now: T0 }), { name: 'UnauthorizedError', message: /issued to/ })
    await assert.rejects(verifyCredential(good, admin.publicKey, { peerId, mesh: 'x', now: T0 }), { name: 'UnauthorizedError', message: /mesh/ })
    await assert.rejects(verifyCredential(good, admin.publicKey, { peerId, mesh: 'm', now: T0 + 120_000 }), { name: 'UnauthorizedError', message: /expired/ })
    // a tampered body no longer matches its signature
    const bytes = Buffer.from(good, 'base64url')
    const i = bytes.indexOf(Buffer.from('voter'))
    bytes.write('hostx', i)
    await assert.rejects(verifyCredential(bytes.toString('base64url'), admin.publicKey, { peerId, mesh: 'm', now: T0 }), (err: Error) => ['UnauthorizedError', 'InvalidMessageError'].includes(err.name))
    for (const bad of ['', 'not base64!', 'AAAA', 42, 'x'.repeat(10_000)]) {
      await assert.rejects(verifyCredential(bad, admin.publicKey, { peerId, mesh: 'm', now: T0 }), (err: Error) => ['InvalidMessageError', 'MessageTooLargeError', 'UnsupportedVersionError'].includes(err.name), String(bad).slice(0, 20))
    }
  })

  it('admin keys round-trip through their text form', async () => {
    const { admin } = await setup()
    assert.ok(publicKeyFromText(publicKeyToText(admin.publicKey)).equals(admin.publicKey))
    assert.ok(privateKeyFromText(privateKeyToText(admin)).publicKey.equals(admin.publicKey))
    assert.throws(() => publicKeyFromText('bm9wZQ'), { name: 'InvalidArgumentError' })
  })

  it('issues short-lived credentials on request, refusing bad requests', async () => {
    const { admin, peerId } = await setup()
    const { credential, claims } = await issueCredential(admin, 'm', { peerId, ttlMs: 5000 }, T0)
    assert.deepEqual(claims.roles, ['host', 'publisher'])
    assert.equal(claims.expiry, T0 + 5000)
    await verifyCredential(credential, admin.publicKey, { peerId, mesh: 'm', now: T0 })
    for (const bad of [null, [], {}, { peerId: 'nope' }, { peerId, roles: ['king'] }, { peerId, ttlMs: -1 }, { peerId, ttlMs: 1e12 }]) {
      await assert.rejects(issueCredential(admin, 'm', bad, T0), { name: 'InvalidArgumentError' })
    }
  })
})

describe('MembershipAuthority', () => {
  it('open mode allows every role to everyone', () => {
    const a = new MembershipAuthority({ mesh: 'm', selfId: 'self', lookup: () => undefined })
    assert.equal(a.open, true)
    assert.equal(a.allows('anyone', 'voter'), true)
  })

  it('honours a credential once verified, only for its roles, until it expires', async () => {
    const { admin, peerId } = await setup()
    const clock = new ManualClock(T0)
    const text = await signCredential(admin, { mesh: 'm', peerId, roles: ['host'], expiry: T0 + 60_000 }, T0)
    const records = new Map<string, { peerId: string, ext: Record<string, unknown> }>([[peerId, { peerId, ext: { credential: text } }]])
    const a = new MembershipAuthority({ mesh: 'm', selfId: 'self', adminKey: admin.publicKey, lookup: id => records.get(id), clock })
    await a.check(peerId, 'host')
    assert.equal(a.allows(peerId, 'host'), true)
    assert.equal(a.allows(peerId, 'voter'), false)
    await assert.rejects(a.check(peerId, 'voter'), { name: 'UnauthorizedError' })
    assert.equal(a.allows('stranger', 'host'), false)
    await assert.rejects(a.check('stranger', 'publisher'), { name: 'UnauthorizedError', message: /no credential/ })
    assert.throws(() => { a.assert('stranger', 'host', 'host agent x') }, { name: 'UnauthorizedError' })
    clock.advance(60_000 + 5_001)
    assert.equal(a.allows(peerId, 'host'), false, 'expired')
    await assert.rejects(a.check(peerId, 'host'), { name: 'UnauthorizedError', message: /expired/ })
  })

  it('refuses this peer a credential that is not valid for it', async () => {
    const { admin, peerId } = await setup()
    const forger = await generateKeyPair('Ed25519')
    const forged = await signCredential(forger, { mesh: 'm', peerId, roles: ['host'], expiry: T0 + 60_000 }, T0)
    const a = new MembershipAuthority({ mesh: 'm', selfId: peerId, adminKey: admin.publicKey, lookup: () => undefined, clock: new ManualClock(T0) })
    await assert.rejects(a.setOwnCredential(forged), { name: 'UnauthorizedError' })
    assert.equal(a.allows(peerId, 'host'), false)
  })
})

describe('flood protection', () => {
  it('token buckets admit the burst, then the rate', () => {
    const clock = new ManualClock(0)
    const l = new PeerRateLimiter({ ratePerS: 10, burst: 5, clock })
    let ok = 0
    for (let i = 0; i < 20; i++) if (l.take('p')) ok++
    assert.equal(ok, 5)
    assert.equal(l.take('q'), true, 'another peer has its own bucket')
    clock.advance(500)
    ok = 0
    for (let i = 0; i < 20; i++) if (l.take('p')) ok++
    assert.equal(ok, 5)
  })

  it('excess is refused with CapacityError and penalised until the peer is below the graylist threshold; penalties decay', () => {
    const clock = new ManualClock(0)
    const g = new FloodGuard({ clock, limits: { publishPerS: 1, publishBurst: 2 } })
    g.admitPublish('p', 't')
    g.admitPublish('p', 't')
    let refused = 0
    for (let i = 0; i < 20; i++) {
      try { g.admitPublish('p', 't') } catch (err) { assert.equal((err as Error).name, 'CapacityError'); refused++ }
    }
    assert.equal(refused, 20)
    const score = g.gossipScoreOptions(true)
    const appScore = score.scoreParams.appSpecificScore as (p: string) => number
    assert.ok(appScore('p') < score.scoreThresholds.graylistThreshold, `score ${appScore('p')}`)
    assert.equal(appScore('honest'), -0)
    clock.advance(120_000)
    assert.ok(appScore('p') > score.scoreThresholds.gossipThreshold, 'forgiven after a while')
  })

  it('control topics are the mesh v1 topics other than nodes, discovery and user topics', () => {
    assert.equal(isControlTopic('m', 'agentmesh/m/v1/monitoring'), true)
    assert.equal(isControlTopic('m', 'agentmesh/m/v1/a/agent/c1'), true)
    assert.equal(isControlTopic('m', 'agentmesh/m/v1/nodes'), false)
    assert.equal(isControlTopic('m', 'agentmesh/m/v1/discovery'), false)
    assert.equal(isControlTopic('m', 'agentmesh/m/v1/t/chat'), false)
    assert.equal(isControlTopic('m', 'agentmesh/other/v1/monitoring'), false)
  })
})
