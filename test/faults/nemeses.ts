/** The nemeses of the fault scenarios: each cycles fault / heal until its time is up. */
import type { NemesisContext } from './scenario.ts'

const FAULT_MS = 8_000
const HEAL_MS = 5_000

function shuffled (ctx: NemesisContext, xs: number[]): number[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = ctx.rng.int(i + 1)
    ;[a[i], a[j]] = [a[j], a[i]]
  }
  return a
}

/** cuts the Raft leader off from every other peer, heals, again */
export async function isolateLeader (ctx: NemesisContext): Promise<void> {
  while (!ctx.done()) {
    const leader = await ctx.mesh.agreedLeader()
    if (leader === undefined) { await ctx.sleep(500); continue }
    ctx.note(`isolate leader ${leader.name}`)
    await ctx.mesh.lab.isolate(leader.index)
    await ctx.sleep(FAULT_MS)
    await ctx.mesh.lab.heal()
    ctx.note('heal')
    await ctx.sleep(HEAL_MS)
  }
}

/** a random minority (fewer than half) against the rest, clients on both sides */
export async function majorityMinority (ctx: NemesisContext): Promise<void> {
  const all = ctx.mesh.peers.map(p => p.index)
  while (!ctx.done()) {
    const order = shuffled(ctx, all)
    const minority = order.slice(0, Math.floor((all.length - 1) / 2))
    const majority = order.slice(minority.length)
    ctx.note(`split [${minority.map(i => ctx.mesh.peers[i].name).join(' ')}] | [${majority.map(i => ctx.mesh.peers[i].name).join(' ')}]`)
    await ctx.mesh.lab.partition(minority, majority)
    await ctx.sleep(FAULT_MS)
    await ctx.mesh.lab.heal()
    ctx.note('heal')
    await ctx.sleep(HEAL_MS)
  }
}

/** a bridge: two halves that cannot talk, and one peer that talks to both */
export async function bridge (ctx: NemesisContext): Promise<void> {
  const all = ctx.mesh.peers.map(p => p.index)
  while (!ctx.done()) {
    const order = shuffled(ctx, all)
    const middle = order[0]
    const half = Math.floor((order.length - 1) / 2)
    const left = order.slice(1, 1 + half)
    const right = order.slice(1 + half)
    ctx.note(`bridge ${ctx.mesh.peers[middle].name} between [${left.map(i => ctx.mesh.peers[i].name).join(' ')}] and [${right.map(i => ctx.mesh.peers[i].name).join(' ')}]`)
    await ctx.mesh.lab.bridge(left, middle, right)
    await ctx.sleep(FAULT_MS)
    await ctx.mesh.lab.heal()
    ctx.note('heal')
    await ctx.sleep(HEAL_MS)
  }
}

/** one direction only: the leader hears nobody (its packets still go out), or a random pair */
export async function asymmetric (ctx: NemesisContext): Promise<void> {
  const all = ctx.mesh.peers.map(p => p.index)
  while (!ctx.done()) {
    const leader = await ctx.mesh.agreedLeader()
    const victim = leader?.index ?? all[ctx.rng.int(all.length)]
    if (ctx.rng.next() < 0.5) {
      ctx.note(`${ctx.mesh.peers[victim].name} drops everything it receives from peers (sends still go out)`)
      for (const other of all) if (other !== victim) await ctx.mesh.lab.dropFrom(victim, other)
    } else {
      ctx.note(`everyone drops what ${ctx.mesh.peers[victim].name} sends (it still receives)`)
      for (const other of all) if (other !== victim) await ctx.mesh.lab.dropFrom(other, victim)
    }
    await ctx.sleep(FAULT_MS)
    await ctx.mesh.lab.heal()
    ctx.note('heal')
    await ctx.sleep(HEAL_MS)
  }
}

/** every peer drops a random 10-20% of what other peers send it, for the whole run */
export async function randomLoss (ctx: NemesisContext): Promise<void> {
  const p = 0.1 + ctx.rng.next() * 0.1
  ctx.note(`random loss ${Math.round(p * 100)}% on every peer`)
  await ctx.mesh.lab.randomLoss(p)
  await ctx.sleep(Number.POSITIVE_INFINITY)
}

/** process faults beside network ones: SIGSTOP/SIGCONT a peer, SIGKILL and restart one on the same data dir */
export async function processFaults (ctx: NemesisContext): Promise<void> {
  const nodes = ctx.mesh.peers.map(p => p.index)
  while (!ctx.done()) {
    const victim = nodes[ctx.rng.int(nodes.length)]
    const name = ctx.mesh.peers[victim].name
    if (ctx.rng.next() < 0.5) {
      ctx.note(`SIGSTOP ${name}`)
      ctx.mesh.pause(victim)
      await ctx.sleep(4000)
      ctx.mesh.resume(victim)
      ctx.note(`SIGCONT ${name}`)
    } else {
      ctx.note(`SIGKILL ${name}`)
      await ctx.mesh.kill(victim)
      await ctx.sleep(2000)
      await ctx.mesh.startPeer(victim)
      ctx.note(`${name} restarted on its data dir`)
    }
    await ctx.sleep(HEAL_MS)
  }
}

/**
 * a skew of 1-50 s either way: within HLC_MAX_SKEW_MS (60 s) of the others. A peer further off
 * than that is cut off from messaging (its envelopes are refused, or it refuses everyone's); it
 * notices it is the outlier and hands its agents off (farSkew checks that, once per run).
 */
function randomSkewMs (ctx: NemesisContext): number {
  const sign = ctx.rng.next() < 0.5 ? -1 : 1
  return sign * (1000 + ctx.rng.int(49_000))
}

/**
 * clock faults where the code reads clocks: a peer's wall clock is stepped while it runs, or it
 * is restarted (SIGKILL, same data dir) with a skewed clock; half the time the skewed peer is
 * then cut off from the others, so its leases must lapse by its own (monotonic) reckoning before
 * the majority's (skewed or not) hands its agents on. Skews stay in place between faults and
 * come back to 0 only now and then: the run keeps mixed clocks most of the time.
 */
export async function clockSkew (ctx: NemesisContext): Promise<void> {
  const all = ctx.mesh.peers.map(p => p.index)
  await farSkew(ctx)
  while (!ctx.done()) {
    const leader = await ctx.mesh.agreedLeader()
    // the leader (which judges lease expiry) half the time, else anyone
    const victim = leader !== undefined && ctx.rng.next() < 0.5 ? leader.index : all[ctx.rng.int(all.length)]
    const name = ctx.mesh.peers[victim].name
    const skew = ctx.rng.next() < 0.2 ? 0 : randomSkewMs(ctx)
    if (ctx.rng.next() < 0.5) {
      ctx.note(`step ${name}'s wall clock to ${skew} ms off (was ${ctx.mesh.peers[victim].skewMs})`)
      ctx.mesh.setClockSkew(victim, skew)
    } else {
      ctx.note(`SIGKILL ${name}, restart it with its wall clock ${skew} ms off`)
      await ctx.mesh.kill(victim)
      ctx.mesh.setClockSkew(victim, skew)
      await ctx.sleep(1000)
      await ctx.mesh.startPeer(victim)
    }
    if (ctx.rng.next() < 0.5 && !ctx.done()) {
      await ctx.sleep(1500)
      ctx.note(`isolate ${name} (skewed ${skew} ms)`)
      await ctx.mesh.lab.isolate(victim)
      await ctx.sleep(FAULT_MS)
      await ctx.mesh.lab.heal()
      ctx.note('heal')
    } else {
      await ctx.sleep(FAULT_MS)
    }
    await ctx.sleep(HEAL_MS)
  }
}

/** how long the counter's owner, its clock stepped past the HLC bound, may take to have the counter served elsewhere */
const FAR_SKEW_HANDOFF_MS = 30_000

/**
 * the peer that runs the counter has its wall clock stepped 70-120 s either way (past the HLC's
 * 60 s bound): within FAR_SKEW_HANDOFF_MS the counter must be placed on another peer and answer a
 * read there (through a peer whose clock is right; a read keeps the checker's count exact), else
 * the run fails. The clock then comes back within the bound. The counter checker verifies every acknowledged increment is
 * present once at the end.
 */
async function farSkew (ctx: NemesisContext): Promise<void> {
  const others = (victim: number): number[] => ctx.mesh.peers.map(p => p.index).filter(i => i !== victim)
  let owner: number | undefined
  for (let i = 0; i < 20 && owner === undefined && !ctx.done(); i++) {
    const r = await ctx.mesh.call(0, 'GET', '/agents/ctr', undefined, 2000).catch(() => undefined)
    owner = r?.status === 200 ? ctx.mesh.peerById(r.json.node as string)?.index : undefined
    if (owner === undefined) await ctx.sleep(500)
  }
  if (owner === undefined || ctx.done()) return
  const name = ctx.mesh.peers[owner].name
  const skew = (ctx.rng.next() < 0.5 ? -1 : 1) * (70_000 + ctx.rng.int(50_000))
  ctx.note(`step ${name}'s wall clock to ${skew} ms off (past the HLC bound; it runs the counter)`)
  ctx.mesh.setClockSkew(owner, skew)
  const started = performance.now()
  const via = others(owner)
  let servedBy: string | undefined
  while (servedBy === undefined) {
    if (performance.now() - started > FAR_SKEW_HANDOFF_MS) {
      throw new Error(`the counter was not served away from ${name} (clock ${skew} ms off) within ${FAR_SKEW_HANDOFF_MS} ms`)
    }
    const peer = via[ctx.rng.int(via.length)]
    const where = await ctx.mesh.call(peer, 'GET', '/agents/ctr', undefined, 2000).catch(() => undefined)
    const node = where?.status === 200 ? ctx.mesh.peerById(where.json.node as string) : undefined
    if (node !== undefined && node.index !== owner) {
      const get = await ctx.mesh.call(peer, 'POST', '/agents/ctr/messages', { message: { op: 'get' }, timeoutMs: 3000 }, 5000).catch(() => undefined)
      if (get?.status === 200) servedBy = node.name
    }
    if (servedBy === undefined) await new Promise(resolve => setTimeout(resolve, 300))
  }
  ctx.note(`the counter is served by ${servedBy} ${Math.round(performance.now() - started)} ms after ${name}'s clock went ${skew} ms off`)
  await ctx.sleep(3000)
  const back = randomSkewMs(ctx)
  ctx.note(`step ${name}'s wall clock back to ${back} ms off`)
  ctx.mesh.setClockSkew(owner, back)
}
