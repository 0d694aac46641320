/**
 * The Raft driver and transport a ConsensusManager runs, wired to it: the driver's hooks feed the
 * manager's metrics, events, announcements, autopilot and lease expiry; the transport hands the
 * driver what the credential gate admits (a leader stamps the lease grants forwarded to it with
 * its own lease time; renewals it answers itself, driver-leases.ts) and the manager what peers refused.
 */
import type { TypedEventEmitter } from 'main-event'
import type { Clock } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import { systemRng } from '../util/prng.ts'
import type { ConsensusGroup } from './consensus-group.ts'
import { admitsRaftMessage, refusalFor } from './consensus-gate.ts'
import type { ConsensusEvents, ConsensusManagerComponents, ConsensusManagerInit, ConsensusRaftTransport } from './consensus-types.ts'
import { RaftDriver } from './driver.ts'
import type { LeaseExpiry } from './lease-expiry.ts'
import { stampLeaseTimes } from './lease-time.ts'
import type { DurableRaftLog } from './log-store.ts'
import type { createConsensusMetrics } from './metrics.ts'
import { MessageType } from './raft/types.ts'
import { Libp2pRaftTransport } from './raft-transport.ts'
import type { RaftTransportHandler } from './raft-transport.ts'
import type { ReceivedRefusals } from './refusals.ts'

export interface ConsensusDriverContext {
  peerId: string
  log: DurableRaftLog
  clock: Clock
  /** the time leases are granted, renewed and expired by (lease-time.ts) */
  leaseClock: Clock
  components: ConsensusManagerComponents
  init: ConsensusManagerInit
  metrics: ReturnType<typeof createConsensusMetrics>
  refusals: ReceivedRefusals
  leaseExpiry: LeaseExpiry
  group: ConsensusGroup
  /** where the driver's events go (the manager) */
  events: TypedEventEmitter<ConsensusEvents>
}

/**
 * builds the driver over `ctx.log` and starts the transport; a start that fails leaves nothing
 * open (the log's file handles are released) and throws
 */
export async function openConsensusDriver (ctx: ConsensusDriverContext): Promise<{ driver: RaftDriver, transport: ConsensusRaftTransport }> {
  const { peerId, log, clock, components, init, metrics, group, events } = ctx
  let transport: ConsensusRaftTransport | undefined
  try {
    const driver: RaftDriver = new RaftDriver({
      id: peerId,
      log,
      sender: { send: (to, msgs) => { transport?.send(to, msgs) } },
      clock,
      leaseClock: ctx.leaseClock,
      rng: components.rng ?? systemRng,
      logger: componentLogger('consensus:driver'),
      ...(components.telemetry != null ? { tracing: components.telemetry } : {}),
      tickMs: init.tickMs,
      electionTicks: init.electionTicks,
      snapshotEveryEntries: init.snapshotEveryEntries,
      compactKeepEntries: init.compactKeepEntries,
      hooks: {
        leaderChanged: (leader, term) => {
          metrics.leaderChanges.inc()
          events.safeDispatchEvent('leader:changed', { detail: { leader: leader === '' ? null : leader, term } })
          group.announce()
        },
        roleChanged: () => { group.announce() },
        confChanged: (cs) => {
          events.safeDispatchEvent('membership:changed', { detail: { voters: [...cs.voters], learners: [...cs.learners] } })
          group.announce()
        },
        // the next change (the second promotion of 1 -> 3) goes out now, not a round later
        confApplied: () => { void group.autopilotRound() },
        snapshotInstalled: (groupId) => { void group.adoptGroup(groupId) },
        failed: () => { group.announce() },
        applied: () => { ctx.leaseExpiry.applied() },
        leaseRenewed: () => { metrics.leaseRenewals.inc() },
        persisted: (s) => { metrics.fsync.observe(s) },
        proposalDone: (s, ok) => { metrics.proposals.observe(s, { outcome: ok ? 'ok' : 'error' }) }
      }
    })
    const handler: RaftTransportHandler = {
      receive: (m, groupId) => {
        const gate = components.gate
        const verdict = admitsRaftMessage(gate, peerId, m)
        if (verdict !== undefined) {
          transport?.refuse(m.from, async () => await refusalFor(gate!, m.from, verdict), verdict.subject)
          return
        }
        // a leader judges lease expiry by its own clock, so it stamps the lease grants forwarded to it
        // (and the renewal entries older peers still propose)
        driver.receive(m.type === MessageType.Prop && driver.rawNode.raft.role === 'leader' ? stampLeaseTimes(m, ctx.leaseClock.now()) : m, groupId)
      },
      unreachable: (peer) => { driver.reportUnreachable(peer) },
      snapshotStatus: (peer, ok) => { driver.reportSnapshot(peer, ok) },
      groupId: () => group.id,
      refused: (peer, refusal) => { ctx.refusals.received(peer, refusal, driver) }
    }
    transport = components.raftTransport !== undefined
      ? components.raftTransport({ selfId: peerId, clock, handler })
      : new Libp2pRaftTransport({ libp2p: components.libp2p, selfId: peerId, clock, log: componentLogger('consensus:transport'), handler })
    await transport.start()
    return { driver, transport }
  } catch (err) {
    await log.close()
    throw err
  }
}
