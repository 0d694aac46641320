/**
 * ConfChange <-> Entry.data. Layout: [version=1, type, ...utf8(nodeId)]. Decoding validates
 * everything, since a conf change may arrive in a follower's log from the network.
 */
import { InvalidMessageError, UnsupportedVersionError } from '../../errors.ts'
import { MAX_NODE_ID_BYTES } from './constants.ts'
import { ConfChangeType } from './types.ts'
import type { ConfChange, ConfState, NodeId } from './types.ts'
import { utf8Decoder, utf8Encoder } from '../../util/utf8.ts'

const CONF_CHANGE_VERSION = 1

export function encodeConfChange (cc: ConfChange): Uint8Array {
  const id = utf8Encoder.encode(cc.nodeId)
  if (id.length === 0 || id.length > MAX_NODE_ID_BYTES) throw new InvalidMessageError(`conf change node id must be 1..${MAX_NODE_ID_BYTES} bytes`)
  const out = new Uint8Array(2 + id.length)
  out[0] = CONF_CHANGE_VERSION
  out[1] = cc.type
  out.set(id, 2)
  return out
}

export function decodeConfChange (data: Uint8Array): ConfChange {
  if (data.length < 3) throw new InvalidMessageError('conf change too short')
  if (data[0] !== CONF_CHANGE_VERSION) throw new UnsupportedVersionError(`conf change version ${data[0]}`)
  const type = data[1]
  if (type !== ConfChangeType.AddNode && type !== ConfChangeType.RemoveNode && type !== ConfChangeType.AddLearner) {
    throw new InvalidMessageError(`unknown conf change type ${type}`)
  }
  if (data.length - 2 > MAX_NODE_ID_BYTES) throw new InvalidMessageError('conf change node id too long')
  let nodeId: NodeId
  try {
    nodeId = utf8Decoder.decode(data.subarray(2))
  } catch (err) {
    throw new InvalidMessageError('conf change node id is not utf-8', { cause: err })
  }
  return { type, nodeId }
}

export const CONF_CHANGE_TYPE_NAMES = ['AddNode', 'RemoveNode', 'AddLearner'] as const

export function describeConfChange (cc: ConfChange): string {
  return `${CONF_CHANGE_TYPE_NAMES[cc.type]} ${cc.nodeId}`
}

export function describeConfState (cs: ConfState): string {
  let s = `voters=(${cs.voters.join(' ')})`
  if (cs.learners.length > 0) s += ` learners=(${cs.learners.join(' ')})`
  return s
}
