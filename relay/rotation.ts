import { toHex } from '../shared/bytes.js'
import * as frame from '../shared/frame.js'
import { MAX_KEY_CHANGES_PER_FRAME, type Frame, type FrameOf } from '../shared/frame.js'
import type { Header } from '../shared/header.js'
import { checkRotate } from '../shared/rotate-proof.js'
import { hash, verifyDetached } from '../shared/sign.js'
import type { Sodium } from '../shared/sodium.js'
import type { PeerState } from './core-types.js'
import type { BusMessage } from './fanout/port.js'
import type { LogStore } from './storage/port.js'

/**
 * The relay's side of epochs (issue 11). After a rotation the old access key and certificates open
 * nothing new: a connection that signs the access challenge with an older epoch's key is not
 * admitted, but is handed the key changes after its epoch (`keyChanges`) with the refusal
 * `relay/epoch-replaced`. Those are sealed in the old epoch, so a member still kept finds its new
 * key inside and comes back with it, and a removed one reads only that it was removed.
 */

/** The key changes after the epoch whose access key made `signature`; undefined when no older epoch's key did. */
export async function keyChangesSince (store: LogStore, sodium: Sodium, spaceId: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<Uint8Array[] | undefined> {
  const epochs = await store.getEpochs(spaceId)
  // The newest is the current epoch, checked by the caller already.
  const older = epochs.slice(0, -1)
  const matched = older.find(e => verifyDetached(sodium, signature, message, e.accessPk))
  if (matched === undefined) return undefined
  return epochs.filter(e => e.epoch > matched.epoch && e.keyChange !== undefined).map(e => e.keyChange!).slice(0, MAX_KEY_CHANGES_PER_FRAME)
}

export const REPLACED_MESSAGE = 'this link was replaced; ask a member for a new one'

export interface RotateDeps {
  readonly store: LogStore
  readonly sodium: Sodium
  readonly send: (ps: PeerState, f: Frame) => void
  readonly fail: (ps: PeerState, reqId: number, spaceId: Uint8Array, code: string, message: string, close: boolean) => void
  readonly log: (line: string) => void
  readonly subscribers: Map<string, Set<PeerState>>
  readonly unsubscribe: (ps: PeerState, key: string) => void
  /** Tells the relays sharing this one's database (core-bus.ts). */
  readonly publish: (m: BusMessage) => void
}

/**
 * A `rotate` frame whose key change (`kc`, its checked header) a certified editor of the current
 * epoch signed: a compare-and-set to the next epoch in the store, signed by the current write key.
 */
export async function rotate (d: RotateDeps, ps: PeerState, f: FrameOf<'rotate'>, kc: Header): Promise<void> {
  const { store, sodium, fail } = d
  const space = await store.getSpace(f.spaceId)
  if (space === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/no-space', 'no such space', true)
  const cur = space.epoch ?? 0
  if (kc.epoch !== cur || f.epoch !== cur + 1 || kc.seq !== f.epoch) return fail(ps, f.reqId, f.spaceId, 'relay/epoch-conflict', `the space is in epoch ${cur}; a rotation must go to ${cur + 1}`, false)
  if (!checkRotate(sodium, f.spaceId, f.epoch, f.accessPk, f.writePk, hash(sodium, f.keyChange), space.writePk, f.signature)) return fail(ps, f.reqId, f.spaceId, 'relay/bad-rotate', 'the rotation is not signed by the write key of the current epoch', true)
  const r = await store.rotateSpace(f.spaceId, cur, { epoch: f.epoch, accessPk: f.accessPk, writePk: f.writePk, keyChange: f.keyChange })
  if (r === 'conflict') return fail(ps, f.reqId, f.spaceId, 'relay/epoch-conflict', 'another rotation from this epoch came first', false)
  if (r === 'no-space') return fail(ps, f.reqId, f.spaceId, 'relay/no-space', 'no such space', true)
  d.log(`space rotated to epoch ${f.epoch} by peer ${ps.peer.id}`)
  d.send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: f.epoch })
  // Everyone joined with the old access key hears the key change, and then nothing more until it
  // joins with the new one: a removed device receives no byte sealed after this.
  const key = toHex(f.spaceId)
  const bytes = frame.writeFrame({ type: 'keyChanges', reqId: 0, spaceId: f.spaceId, envelopes: [f.keyChange] })
  for (const other of [...d.subscribers.get(key) ?? []]) {
    if (!other.closed) other.peer.send(bytes)
    d.unsubscribe(other, key)
  }
  d.publish({ type: 'rotated', spaceId: f.spaceId })
}
