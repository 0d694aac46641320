/**
 * Carries out the autopilot's decisions on the leader: builds the view (peers from the
 * NetworkManager's membership, how long each has been up or down, the leader's replication
 * progress) and proposes the one membership change planAutopilot asks for.
 */
import { describeError } from '../errors.ts'
import type { Member } from '../network/index.ts'
import type { Logger } from '../util/logger.ts'
import { planAutopilot } from './autopilot.ts'
import { AUTOPILOT_TRACKING_RETENTION_MS } from './constants.ts'
import type { AutopilotPeer, RaftAnnouncement } from './autopilot.ts'
import type { RaftDriver } from './driver.ts'
import { ConfChangeType } from './raft/index.ts'

interface Tracked {
  role: string
  hidden: boolean
  raft?: RaftAnnouncement
  up: boolean
  /** monotonic time it came up, or went down */
  since: number
}

export interface PeerTracking {
  peers: Map<string, Tracked>
  /** when tracking started: a peer never seen counts as down since then */
  since: number
}

/**
 * records, for every member, whether it is up and since when; forgets a peer gone from the
 * membership once it has been down for `retentionMs`
 */
export function trackPeers (t: PeerTracking, members: Member[], now: number, retentionMs = AUTOPILOT_TRACKING_RETENTION_MS): void {
  const seen = new Set<string>()
  for (const m of members) {
    seen.add(m.peerId)
    const up = m.status !== 'failed'
    const raft = m.record.ext.raft as RaftAnnouncement | undefined
    const cur = t.peers.get(m.peerId)
    const valid = raft !== undefined && typeof raft === 'object' && typeof raft.candidate === 'boolean' && typeof raft.group === 'string'
    const next: Tracked = {
      role: m.record.role,
      hidden: m.record.hidden,
      ...(valid ? { raft: { candidate: raft.candidate, group: raft.group } } : {}),
      up,
      since: cur === undefined || cur.up !== up ? now : cur.since
    }
    t.peers.set(m.peerId, next)
  }
  for (const [id, cur] of t.peers) {
    if (seen.has(id)) continue
    if (cur.up) t.peers.set(id, { ...cur, up: false, since: now })
    else if (now - cur.since >= retentionMs) t.peers.delete(id)
  }
}

export interface AutopilotRound {
  driver: RaftDriver
  group: string
  members: Member[]
  tracking: PeerTracking
  now: number
  tabVoters: boolean
  log: Logger
}

export function runAutopilot (r: AutopilotRound): void {
  const st = r.driver.status()
  const peers = new Map<string, AutopilotPeer>()
  for (const [id, t] of r.tracking.peers) {
    if (id === st.id) continue
    peers.set(id, {
      id,
      role: t.role,
      hidden: t.hidden,
      up: t.up,
      upForMs: t.up ? r.now - t.since : 0,
      downForMs: t.up ? 0 : r.now - t.since,
      ...(t.raft !== undefined ? { raft: t.raft } : {})
    })
  }
  // members never seen in the membership count as down since tracking started
  for (const id of [...st.voters, ...st.learners]) {
    if (id !== st.id && !peers.has(id)) peers.set(id, { id, role: 'node', hidden: false, up: false, upForMs: 0, downForMs: r.now - r.tracking.since })
  }
  const action = planAutopilot({
    self: st.id,
    group: r.group,
    voters: st.voters,
    learners: st.learners,
    peers,
    progress: st.progress,
    commit: st.commit,
    tabVoters: r.tabVoters
  })
  if (action === undefined) return
  r.log('autopilot: %s %s (%s)', action.kind, action.peer, action.reason)
  try {
    switch (action.kind) {
      case 'add-learner': r.driver.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: action.peer }); break
      case 'promote': r.driver.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: action.peer }); break
      case 'remove':
        if (action.peer === st.id) {
          const to = st.voters.find(v => v !== st.id && st.progress[v]?.recentActive === true)
          if (to !== undefined) r.driver.transferLeader(to)
        } else {
          r.driver.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: action.peer })
        }
        break
      case 'transfer': r.driver.transferLeader(action.peer); break
    }
  } catch (err) {
    r.log('autopilot: %s %s not proposed: %s', action.kind, action.peer, describeError(err).message)
  }
}
