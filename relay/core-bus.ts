import { toHex } from '../shared/bytes.js'
import * as frame from '../shared/frame.js'
import type { Frame } from '../shared/frame.js'
import * as wire from '../shared/wire.js'
import { HEADER_BYTES } from '../shared/header.js'
import type { Puller } from './core-fanout.js'
import { catchUpReceipts } from './core-limits.js'
import type { Membership, PeerState } from './core-types.js'
import type { BusMessage, FanoutBus } from './fanout/port.js'
import type { LogStore } from './storage/port.js'

export interface BusDeps {
  readonly bus: FanoutBus
  readonly store: LogStore
  readonly subscribers: Map<string, Set<PeerState>>
  readonly member: (ps: PeerState, spaceId: Uint8Array) => Membership | undefined
  readonly puller: Puller
  /** Drops a connection from a space (after a rotation its old-epoch joins hear nothing more). */
  readonly unsubscribe: (ps: PeerState, key: string) => void
  readonly log: (line: string) => void
  /** The fallback poll's period: a lost or coalesced doorbell delays delivery by at most this. */
  readonly pollMs: number
}

/**
 * Wires a relay to the others on its database (issue 12): what another relay announced reaches
 * this relay's readers of the space (entries by reading the log, never from the message),
 * everything is read again when the bus's connection comes back, and a poll catches what a lost
 * doorbell would have delayed. Returns the stop.
 */
export function attachBus (d: BusDeps): () => void {
  const { bus, store, subscribers, member, puller, log } = d
  const fromBus = (m: BusMessage): void => {
    const subs = subscribers.get(toHex(m.spaceId))
    if (subs === undefined) return
    const toAll = (bytes: Uint8Array): void => { for (const ps of subs) if (!ps.closed && member(ps, m.spaceId) !== undefined) ps.peer.send(bytes) }
    switch (m.type) {
      case 'entries': return puller.pull(m.spaceId)
      case 'presence': {
        const f: Frame = { type: 'presenceOut', spaceId: m.spaceId, envelope: m.envelope }
        const bytes = frame.writeFrame(f)
        for (const ps of subs) if (!ps.closed && member(ps, m.spaceId) !== undefined) ps.peer.send(wire.writeWire(ps.wire, f, bytes))
        return
      }
      case 'peerLeft': return toAll(frame.writeFrame({ type: 'peerLeft', spaceId: m.spaceId, author: m.author }))
      case 'snapshot':
        store.getSnapshots(m.spaceId, 1).then(([s]) => {
          if (s !== undefined) toAll(frame.writeFrame({ type: 'snapshots', reqId: 0, spaceId: m.spaceId, snapshots: [{ id: s.id, covers: s.covers, envelope: s.envelope.subarray(0, HEADER_BYTES), attested: false }] }))
        }, e => log(`fan-out snapshot read failed: ${String(e)}`))
        return
      case 'receipts':
        store.getReceipts(m.spaceId, frame.MAX_RECEIPTS_PER_FRAME).then(catchUpReceipts).then(envelopes => {
          if (envelopes.length > 0) toAll(frame.writeFrame({ type: 'receipts', reqId: 0, spaceId: m.spaceId, envelopes }))
        }, e => log(`fan-out receipts read failed: ${String(e)}`))
        return
      case 'rotated':
        store.getEpochs(m.spaceId).then(epochs => {
          const kc = epochs.at(-1)?.keyChange
          if (kc === undefined) return
          const bytes = frame.writeFrame({ type: 'keyChanges', reqId: 0, spaceId: m.spaceId, envelopes: [kc] })
          for (const ps of [...subs]) {
            if (!ps.closed) ps.peer.send(bytes)
            d.unsubscribe(ps, toHex(m.spaceId))
          }
        }, e => log(`fan-out epochs read failed: ${String(e)}`))
    }
  }
  bus.subscribe({ message: fromBus, resync: () => puller.pullAll() })
  let polling = false
  const poll = setInterval(() => {
    if (polling) return
    polling = true
    puller.poll().catch(e => log(`fan-out poll failed: ${e instanceof Error ? e.message : String(e)}`)).finally(() => { polling = false })
  }, d.pollMs)
  if (typeof poll === 'object' && 'unref' in poll) poll.unref()
  return () => clearInterval(poll)
}
