import { concat, equalBytes, toHex } from '../shared/bytes.js'
import { HEADER_BYTES, MsgType, parseEnvelope } from '../shared/header.js'
import * as frame from '../shared/frame.js'
import * as wire from '../shared/wire.js'
import type { Frame, FrameOf, SnapshotEntry } from '../shared/frame.js'
import { checkCreate } from '../shared/create-proof.js'
import { authMessage, hash, isNoCert, verifyAttestation, verifyDetached, verifyDeviceSignature, verifyEnvelope, verifyMemberRecord } from '../shared/sign.js'
import { addressKey, DEFAULT_CREATE_LIMITS, KeyedBuckets } from './limits.js'
import { keyChangesSince, REPLACED_MESSAGE, rotate } from './rotation.js'
import type { StoredEntry } from './storage/port.js'
import { createPruner } from './core-prune.js'
import { attachBus } from './core-bus.js'
import type { Membership, PeerState, RelayCore, RelayCoreOptions } from './core-types.js'
import { createPuller } from './core-fanout.js'
import { catchUpReceipts, CERT_CACHE_MAX, CHALLENGE_LABEL, entryOf, epochOf, MAX_CHALLENGES, HISTORY_SPACING_MS, MAX_PENDING_PART_BYTES, MAX_RECEIPT_BYTES, MAX_LOG_BYTES, MAX_MEMBERS, MEMBER_SLOT, memberRoom, PAGE_BYTES, PENDING_PART_TTL_MS, PRUNE_TAIL_PERCENT } from './core-limits.js'

/**
 * The relay's logic, sans IO (STYLE.md): given a peer and the bytes of a frame, it answers,
 * stores, forwards or closes, and knows nothing of sockets. `server.ts` is the `ws` shell.
 *
 * It holds no key and imports neither Yjs nor the sealing code; what it checks (access signature,
 * write certificate, device signature, stream chain, duplicates) is defense in depth: clients
 * verify everything again.
 */
export type { Peer, RelayCore, RelayCoreOptions } from './core-types.js'


export function createRelayCore (opts: RelayCoreOptions): RelayCore {
  const { store, sodium } = opts
  const log = opts.log ?? ((): void => {})
  const pageSize = opts.pageSize ?? 512
  const pageBytes = Math.max(1, Math.min(opts.pageBytes ?? PAGE_BYTES, PAGE_BYTES))
  /** The longest prefix of `rows` within `pageBytes`, never empty (one envelope always fits a frame). */
  const fit = (rows: StoredEntry[]): StoredEntry[] => {
    let total = 0
    for (let i = 0; i < rows.length; i++) {
      total += rows[i]!.envelope.length + 16
      if (total > pageBytes && i > 0) return rows.slice(0, i)
    }
    return rows
  }
  const peers = new Map<number, PeerState>()
  const maxLogBytes = opts.maxLogBytes ?? MAX_LOG_BYTES
  const maxMembers = opts.maxMembers ?? MAX_MEMBERS
  const createLimits = opts.createLimits ?? DEFAULT_CREATE_LIMITS
  const createsByAddress = new KeyedBuckets(createLimits.perAddress)
  const now = opts.now ?? Date.now
  const subscribers = new Map<string, Set<PeerState>>()
  // Each connection's challenge is derived from this secret and the connection's serial: the same
  // for every space on the connection (signatures name the space), never the same on two
  // connections, unpredictable without the secret, and nothing to keep per connection.
  const challengeKey = globalThis.crypto.getRandomValues(new Uint8Array(32))
  let serials = 0
  const challengeOf = (ps: PeerState): Uint8Array => {
    const msg = new Uint8Array(CHALLENGE_LABEL.length + 8)
    msg.set(CHALLENGE_LABEL)
    new DataView(msg.buffer).setFloat64(CHALLENGE_LABEL.length, ps.serial)
    return sodium.crypto_generichash(32, msg, challengeKey)
  }
  // (space, author) pairs whose write certificate verified: saves one Ed25519 verify per envelope.
  const certOk = new Set<string>()

  const send = (ps: PeerState, f: Frame): void => {
    if (!ps.closed) ps.peer.send(wire.writeWire(ps.wire, f))
  }
  // One live entry goes to every compact reader of its space: its compact form (and hash) is
  // worked out once for all connections. Keyed by the envelope arrays, never changed once stored or received.
  const prepared = wire.createPrepareCache()
  const hashOf = (env: Uint8Array): Uint8Array => hash(sodium, env)
  const fail = (ps: PeerState, reqId: number, spaceId: Uint8Array, code: string, message: string, close: boolean): void => {
    send(ps, { type: 'error', reqId, spaceId, code, message })
    if (close) {
      log(`peer ${ps.peer.id} closed: ${code}`)
      ps.closed = true
      ps.peer.close(code, message)
    }
  }

  const member = (ps: PeerState, spaceId: Uint8Array): Membership | undefined => ps.spaces.get(toHex(spaceId))

  async function catchUp (ps: PeerState, spaceId: Uint8Array, m: Membership, reqId: number): Promise<void> {
    m.catchingUp = true
    // A joiner with nothing, or resuming below what was pruned, starts from a snapshot (DESIGN.md
    // §5); one with recent state gets only the entries it lacks. Only an attested snapshot is
    // served (a member other than its author verified it, so it is not one member's word): with
    // none, the log is whole (it is pruned only under attested snapshots) and the joiner reads it.
    const pruned = await store.prunedUpTo(spaceId)
    if (m.sent === 0 || m.sent < pruned) {
      // `covers >= pruned`: a log pruned before attestations existed can have a gap after an
      // attested snapshot's covers; only then is an unattested one served (there is no other way in).
      const attested = await store.getAttestedSnapshot(spaceId)
      let pick = attested !== undefined && attested.covers > m.sent && attested.covers >= pruned ? attested : undefined
      if (pick === undefined && m.sent < pruned) {
        const newest = (await store.getSnapshots(spaceId, 1))[0]
        if (newest !== undefined && newest.covers > m.sent) pick = newest
      }
      // After a rotation a joiner holds only the current epoch's keys (issue 11): start it from
      // that epoch's snapshot, the one its rotator sealed at once, attested yet or not.
      const epoch = (await store.getSpace(spaceId))?.epoch ?? 0
      if (epoch > 0 && pick !== undefined && epochOf(pick.envelope) !== epoch) pick = undefined
      if (epoch > 0 && pick === undefined && m.sent === 0) {
        const ofEpoch = (await store.getSnapshots(spaceId, keepSnapshots + 1)).filter(x => epochOf(x.envelope) === epoch)
        pick = ofEpoch.find(x => x.attested) ?? ofEpoch[0]
      }
      if (pick !== undefined) {
        if (ps.closed) return
        send(ps, { type: 'snapshots', reqId, spaceId, snapshots: [entryOf(pick)] })
        m.sent = pick.covers
        await ps.peer.drained()
      }
    }
    for (;;) {
      m.dirty = false
      const read = await store.readAfter(spaceId, m.sent, pageSize)
      const rows = fit(read)
      if (ps.closed) return
      if (rows.length === 0) {
        if (m.dirty) continue
        break
      }
      m.sent = rows[rows.length - 1]!.cursor
      send(ps, { type: 'entries', reqId, spaceId, entries: rows, head: await store.head(spaceId), more: rows.length < read.length || read.length === pageSize })
      await ps.peer.drained()
      if (ps.closed) return
    }
    m.catchingUp = false
    send(ps, { type: 'entries', reqId, spaceId, entries: [], head: m.sent, more: false })
    // Then what the other members last said they hold (DESIGN.md §7): the newest receipts, and who they are.
    const receipts = catchUpReceipts(await store.getReceipts(spaceId, frame.MAX_RECEIPTS_PER_FRAME))
    if (receipts.length > 0 && !ps.closed) send(ps, { type: 'receipts', reqId: 0, spaceId, envelopes: receipts })
  }

  const keepSnapshots = opts.keepSnapshots ?? 3
  const maxPendingPartBytes = opts.maxPendingPartBytes ?? MAX_PENDING_PART_BYTES
  const pendingPartTtlMs = opts.pendingPartTtlMs ?? PENDING_PART_TTL_MS
  const pruner = createPruner({ store, log, keepSnapshots, historySpacingMs: opts.historySpacingMs ?? HISTORY_SPACING_MS, graceMs: opts.pruneGraceMs ?? 5 * 60_000, tailPercent: opts.pruneTailPercent ?? PRUNE_TAIL_PERCENT, pendingPartTtlMs })

  const bus = opts.bus
  const puller = createPuller({ store, subscribers, member, pageSize, fit, log })

  /**
   * Sends a just-stored entry to the space's readers. Directly only to a reader that was sent
   * everything up to `prev` (the head before this entry); one that was not is missing another
   * relay's entry (or one still in flight here) that sorts before it, and reads the log instead, so
   * no reader ever jumps over an entry (issue 12).
   */
  function broadcast (from: PeerState | undefined, spaceId: Uint8Array, cursor: number, envelope: Uint8Array, prev: number | undefined): void {
    const subs = subscribers.get(toHex(spaceId))
    if (subs === undefined) return
    const f: Frame = { type: 'entries', reqId: 0, spaceId, entries: [{ cursor, envelope }], head: cursor, more: false }
    const bytes = frame.writeFrame(f)
    let gap = false
    for (const ps of subs) {
      const m = member(ps, spaceId)
      if (m === undefined || ps.closed) continue
      if (m.catchingUp) { m.dirty = true; continue }
      if (cursor <= m.sent) continue
      if (prev === undefined || m.sent < prev) { gap = true; continue }
      m.sent = cursor
      if (ps !== from) ps.peer.send(wire.writeWire(ps.wire, f, bytes))
    }
    if (gap) puller.pull(spaceId)
  }

  // Other relays' writes, presence, snapshots and receipts (core-bus.ts), and the fallback poll.
  const stopBus = bus === undefined ? undefined : attachBus({ bus, store, subscribers, member, puller, unsubscribe: (ps, key) => unsubscribe(ps, key), log, pollMs: opts.pollMs ?? 1000 })

  /**
   * Tells the space's other members that a snapshot was stored, so they can check it and attest it
   * (the log is pruned under a snapshot only once a member other than its author has). A doorbell
   * like live entries (reqId 0) carrying only the snapshot's header (a snapshot can be megabytes,
   * and a paused reader must not be sent them unasked): a member that wants it asks
   * `listSnapshots`. Nothing is owed if it is lost: a member also checks newer snapshots when it
   * loses a snapshot race.
   */
  function announceSnapshot (from: PeerState, spaceId: Uint8Array, s: SnapshotEntry): void {
    const subs = subscribers.get(toHex(spaceId))
    if (subs === undefined) return
    const bytes = frame.writeFrame({ type: 'snapshots', reqId: 0, spaceId, snapshots: [s] })
    for (const ps of subs) {
      if (ps === from || ps.closed || member(ps, spaceId) === undefined) continue
      ps.peer.send(bytes)
    }
  }

  const handlers: { [K in Frame['type']]?: (ps: PeerState, f: FrameOf<K>) => Promise<void> } = {
    async create (ps, f) {
      // Limits first, before any signature is checked: a refused creation costs the relay nothing.
      // Every attempt counts (an honest client sends one per space and connection).
      if (ps.creates >= createLimits.perConnection) {
        return fail(ps, f.reqId, f.spaceId, 'relay/create-limit', `at most ${createLimits.perConnection} spaces may be created per connection`, false)
      }
      ps.creates++
      if (!createsByAddress.take(addressKey(ps.peer.address), now())) {
        return fail(ps, f.reqId, f.spaceId, 'relay/create-limit', 'too many spaces created from this address; try again later', false)
      }
      // The hello stays for the `auth` that follows; the proof is bound to this connection's
      // challenge, so it cannot be replayed on another connection.
      if (ps.hellos?.has(toHex(f.spaceId)) !== true) return fail(ps, f.reqId, f.spaceId, 'relay/no-challenge', 'send hello first: create signs its challenge', true)
      const bad = checkCreate(sodium, f.spaceId, f.accessPk, f.writePk, challengeOf(ps), { accessSig: f.accessSig, writeSig: f.writeSig })
      if (bad === 'relay/bad-space-id') return fail(ps, f.reqId, f.spaceId, bad, 'the space id is not the one its keys derive', false)
      if (bad !== undefined) return fail(ps, f.reqId, f.spaceId, bad, 'the creation is not signed by the space\'s write and access keys', false)
      const created = await store.createSpace(f.spaceId, { accessPk: f.accessPk, writePk: f.writePk })
      if (!created) return fail(ps, f.reqId, f.spaceId, 'relay/space-exists', 'a space with this id exists', false)
      log(`space created by peer ${ps.peer.id}`)
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: 0 })
    },
    async hello (ps, f) {
      // Answered whether or not the space exists: a creator signs this challenge in its `create`
      // before it authenticates (so `hello` also no longer tells a stranger which ids exist). A
      // client that had the challenge from `welcome` sent its `auth` right behind this hello.
      const key = toHex(f.spaceId)
      const hellos = ps.hellos ??= new Set()
      hellos.delete(key)
      if (hellos.size >= MAX_CHALLENGES) {
        const oldest = hellos.values().next()
        if (oldest.done !== true) hellos.delete(oldest.value)
      }
      hellos.add(key)
      // Compact frames (wire.ts) only to a client that said it reads them; caps only to a client that sent caps.
      send(ps, { type: 'challenge', reqId: f.reqId, spaceId: f.spaceId, challenge: challengeOf(ps), ...(f.caps === undefined ? {} : { caps: wire.CAPS }) })
    },
    async auth (ps, f) {
      const key = toHex(f.spaceId)
      const said = ps.hellos?.delete(key) === true
      // An authenticated connection holds no empty Set (issue 10: memory per idle connection).
      if (ps.hellos?.size === 0) ps.hellos = undefined
      if (!said) return fail(ps, f.reqId, f.spaceId, 'relay/no-challenge', 'send hello first', true)
      const challenge = challengeOf(ps)
      const space = await store.getSpace(f.spaceId)
      // Not a violation: a view link opened before any writer registered the space. The client
      // waits and tries again; the socket stays for its other spaces.
      if (space === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/no-space', 'no such space on this relay (yet)', false)
      if (!verifyDetached(sodium, f.signature, authMessage(f.spaceId, challenge), space.accessPk)) {
        // An older epoch's access key (issue 11): not admitted, but told what replaced it.
        const changes = await keyChangesSince(store, sodium, f.spaceId, authMessage(f.spaceId, challenge), f.signature)
        if (changes === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/auth-failed', 'access signature does not verify', true)
        send(ps, { type: 'keyChanges', reqId: f.reqId, spaceId: f.spaceId, envelopes: changes })
        return fail(ps, f.reqId, f.spaceId, 'relay/epoch-replaced', REPLACED_MESSAGE, false)
      }
      let m = ps.spaces.get(key)
      // Catching up from here: no live entry may overtake the catch-up while `ok` awaits the head.
      if (m === undefined) {
        m = { sent: f.after, catchingUp: true, dirty: false, presenceAuthors: undefined, spaceId: f.spaceId }
        ps.spaces.set(key, m)
        let subs = subscribers.get(key)
        if (subs === undefined) subscribers.set(key, subs = new Set())
        subs.add(ps)
      } else {
        m.sent = f.after
        m.catchingUp = true
      }
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: await store.head(f.spaceId) })
      // Not awaited: a long catch-up waits on backpressure and must not hold up this peer's appends.
      catchUp(ps, f.spaceId, m, f.reqId).catch(e => internalError(ps, 'catch-up', e))
    },
    async append (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const checked = await checkEnvelope(ps, f.reqId, f.spaceId, f.envelope, MsgType.update)
      if (checked === undefined) return
      const h = checked.header
      const r = await store.append(f.spaceId, {
        author: h.author, stream: h.stream, seq: h.seq, prevHash: h.prevHash, hash: hash(sodium, f.envelope), envelope: f.envelope, kind: 'update'
      }, maxLogBytes)
      if (!r.ok) return fail(ps, f.reqId, f.spaceId, r.code === 'store/quota' ? 'relay/quota' : r.code, r.message, false)
      // Entries before this one not yet sent to this writer (another relay's; for a resend, itself) go first.
      const m = member(ps, f.spaceId)
      const upTo = r.duplicate ? r.cursor : r.prev
      if (upTo !== undefined && m !== undefined && m.sent < upTo) await puller.sendUpTo(ps, m, f.spaceId, upTo)
      // Readers first: each send is a write to a socket (on loopback, the delivery too), and the
      // readers' copy is what a keystroke's latency is measured by; the writer's ack is not.
      if (!r.duplicate) broadcast(ps, f.spaceId, r.cursor, f.envelope, r.prev)
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: r.cursor })
      if (!r.duplicate) bus?.publish({ type: 'entries', spaceId: f.spaceId, cursor: r.cursor })
    },
    async putSnapshot (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const checked = await checkEnvelope(ps, f.reqId, f.spaceId, f.envelope, MsgType.snapshot)
      if (checked === undefined) return
      if (f.covers > await store.head(f.spaceId)) return fail(ps, f.reqId, f.spaceId, 'relay/bad-snapshot', 'a snapshot cannot cover entries the log does not have', false)
      const r = await store.putSnapshot(f.spaceId, { hash: hash(sodium, f.envelope), prevHash: checked.header.prevHash, covers: f.covers, envelope: f.envelope, parts: f.parts })
      if (!r.ok) {
        const code = r.code === 'store/missing-part' ? 'relay/missing-part' : r.code
        return fail(ps, f.reqId, f.spaceId, code, r.message, false)
      }
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: r.id })
      announceSnapshot(ps, f.spaceId, { id: r.id, covers: f.covers, envelope: f.envelope.subarray(0, HEADER_BYTES), attested: false })
      bus?.publish({ type: 'snapshot', spaceId: f.spaceId })
      pruner.schedule(f.spaceId)
    },
    async putSnapshotPart (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      // Checked like a snapshot head: only a certified writer's device can upload parts.
      const checked = await checkEnvelope(ps, f.reqId, f.spaceId, f.envelope, MsgType.snapshotPart)
      if (checked === undefined) return
      const h = hash(sodium, f.envelope)
      let r = await store.putSnapshotPart(f.spaceId, h, f.envelope, maxPendingPartBytes)
      if (!r.ok && r.code === 'store/quota' && await store.dropPendingParts(f.spaceId, Date.now() - pendingPartTtlMs) > 0) {
        r = await store.putSnapshotPart(f.spaceId, h, f.envelope, maxPendingPartBytes)
      }
      if (!r.ok) return fail(ps, f.reqId, f.spaceId, r.code === 'store/quota' ? 'relay/quota' : r.code, r.message, false)
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: 0 })
    },
    async getSnapshotPart (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      // Up to 16 MiB each, asked for in bursts by a joiner: wait until this peer's earlier bytes
      // have left (frames of one peer are handled in order, so its next request waits too).
      await ps.peer.drained()
      if (ps.closed) return
      const env = await store.getSnapshotPart(f.spaceId, f.hash)
      if (env === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/unknown-part', 'no such snapshot part in this space', false)
      send(ps, { type: 'snapshotPart', reqId: f.reqId, spaceId: f.spaceId, envelope: env })
    },
    async attest (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const space = await store.getSpace(f.spaceId)
      if (space === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/no-space', 'no such space', true)
      if (!verifyAttestation(sodium, f.spaceId, space.writePk, f.snapshotHash, f.device, f.cert, f.signature)) {
        return fail(ps, f.reqId, f.spaceId, 'relay/bad-attestation', 'the device holds no write certificate or did not sign this attestation', false)
      }
      const snap = await store.getSnapshot(f.spaceId, f.snapshotHash)
      if (snap === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/unknown-snapshot', 'no such snapshot in this space', false)
      const head = parseEnvelope(snap.envelope)
      // Stored heads passed parseEnvelope when they were put; a failure here is a bug or a damaged store.
      if (!head.ok) throw new Error(`stored snapshot ${snap.id} does not parse: ${head.code}`)
      if (equalBytes(head.value.header.author, f.device)) {
        return fail(ps, f.reqId, f.spaceId, 'relay/own-snapshot', 'a snapshot must be attested by a device other than its author', false)
      }
      if (!await store.attestSnapshot(f.spaceId, f.snapshotHash, f.device)) {
        return fail(ps, f.reqId, f.spaceId, 'relay/unknown-snapshot', 'no such snapshot in this space', false)
      }
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: snap.id })
      pruner.schedule(f.spaceId)
    },
    async listSnapshots (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const snaps = await store.getSnapshots(f.spaceId, Math.max(1, f.limit))
      // Newest first, as many as fit one page (at least one: a single envelope always fits a frame).
      let total = 0
      const page = snaps.filter((x, i) => (total += x.envelope.length + 16) <= pageBytes || i === 0)
      send(ps, { type: 'snapshots', reqId: f.reqId, spaceId: f.spaceId, snapshots: page.map(entryOf) })
    },
    async fetch (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const read = await store.readAfter(f.spaceId, f.after, Math.max(1, f.limit))
      const rows = fit(read)
      send(ps, { type: 'entries', reqId: f.reqId, spaceId: f.spaceId, entries: rows, head: await store.head(f.spaceId), more: rows.length < read.length || read.length === f.limit })
    },
    async fetchStream (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const read = await store.readStream(f.spaceId, f.author, f.stream, f.fromSeq, Math.max(1, f.limit))
      const rows = fit(read)
      send(ps, { type: 'entries', reqId: f.reqId, spaceId: f.spaceId, entries: rows, head: await store.head(f.spaceId), more: rows.length < read.length || read.length === f.limit })
    },
    async receipt (ps, f) {
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      if (f.envelope.length > MAX_RECEIPT_BYTES) return fail(ps, f.reqId, f.spaceId, 'relay/too-large', `a receipt may hold at most ${MAX_RECEIPT_BYTES} bytes`, false)
      // Checked like an update: only a certified writer's device can leave receipts. A member
      // record (issue 11) may instead carry a view certificate: a viewer's one way to be known.
      const isMember = parseEnvelope(f.envelope).ok && f.envelope[1] === MsgType.member
      const checked = await checkEnvelope(ps, f.reqId, f.spaceId, f.envelope, isMember ? MsgType.member : MsgType.receipt)
      if (checked === undefined) return
      // Newest per device for each kind: a member record's slot is its author's key followed by 'm'.
      const slot = isMember ? concat(checked.header.author, MEMBER_SLOT) : checked.header.author
      if (isMember && !await memberRoom(store, f.spaceId, checked.header.author, maxMembers)) {
        return fail(ps, f.reqId, f.spaceId, 'relay/quota', `this space already has ${maxMembers} member devices on this relay`, false)
      }
      if (!await store.putReceipt(f.spaceId, slot, f.envelope)) return fail(ps, f.reqId, f.spaceId, 'relay/no-space', 'no such space', true)
      send(ps, { type: 'ok', reqId: f.reqId, spaceId: f.spaceId, cursor: 0 })
      const bytes = frame.writeFrame({ type: 'receipts', reqId: 0, spaceId: f.spaceId, envelopes: [f.envelope] })
      for (const other of subscribers.get(toHex(f.spaceId)) ?? []) {
        if (other !== ps && !other.closed && member(other, f.spaceId) !== undefined) other.peer.send(bytes)
      }
      bus?.publish({ type: 'receipts', spaceId: f.spaceId })
    },
    async rotate (ps, f) {
      // Not closed: a rival rotation that came first unsubscribed this peer a moment ago.
      if (member(ps, f.spaceId) === undefined) return fail(ps, f.reqId, f.spaceId, 'relay/not-joined', 'authenticate to the space (in its current epoch) first', false)
      const checked = await checkEnvelope(ps, f.reqId, f.spaceId, f.keyChange, MsgType.keyChange)
      if (checked === undefined) return
      await rotate({ store, sodium, send, fail, log, subscribers, unsubscribe, publish: m => bus?.publish(m) }, ps, f, checked.header)
    },
    async leave (ps, f) {
      unsubscribe(ps, toHex(f.spaceId))
    },
    async presence (ps, f) {
      const m = member(ps, f.spaceId)
      if (m === undefined) return fail(ps, 0, f.spaceId, 'relay/not-joined', 'authenticate to the space first', true)
      const checked = await checkEnvelope(ps, 0, f.spaceId, f.envelope, MsgType.presence)
      if (checked === undefined) return
      ;(m.presenceAuthors ??= new Map()).set(toHex(checked.header.author), checked.header.author)
      const out: Frame = { type: 'presenceOut', spaceId: f.spaceId, envelope: f.envelope }
      const bytes = frame.writeFrame(out)
      for (const other of subscribers.get(toHex(f.spaceId)) ?? []) if (other !== ps && !other.closed) other.peer.send(wire.writeWire(other.wire, out, bytes))
      bus?.publish({ type: 'presence', spaceId: f.spaceId, envelope: f.envelope })
    }
  }

  async function checkEnvelope (ps: PeerState, reqId: number, spaceId: Uint8Array, env: Uint8Array, type: MsgType) {
    const parsed = parseEnvelope(env)
    if (!parsed.ok) { fail(ps, reqId, spaceId, parsed.code, parsed.message, true); return undefined }
    const h = parsed.value.header
    if (!equalBytes(h.spaceId, spaceId) || h.type !== type) {
      fail(ps, reqId, spaceId, 'relay/wrong-space-or-type', 'envelope header does not match the frame', true)
      return undefined
    }
    const space = await store.getSpace(spaceId)
    if (space === undefined) { fail(ps, reqId, spaceId, 'relay/no-space', 'no such space', true); return undefined }
    // A view-only device may announce its presence, signed by its device key alone (PROTOCOL.md
    // "Presence"); only that: it is never cached as certified, so it opens no other door.
    if (type === MsgType.presence && isNoCert(h.cert)) {
      const v = verifyDeviceSignature(sodium, parsed.value)
      if (!v.ok) { fail(ps, reqId, spaceId, v.code, v.message, true); return undefined }
      return parsed.value
    }
    if (type === MsgType.member) {
      const v = verifyMemberRecord(sodium, parsed.value, space.writePk, space.accessPk)
      if (!v.ok) { fail(ps, reqId, spaceId, v.code, v.message, true); return undefined }
      return parsed.value
    }
    // Keyed by the write key too: a certificate of an older epoch must not pass as cached after a rotation.
    const certKey = toHex(space.writePk) + toHex(h.author) + toHex(h.cert)
    const v = verifyEnvelope(sodium, parsed.value, space.writePk, certOk.has(certKey))
    if (!v.ok) { fail(ps, reqId, spaceId, v.code, v.message, true); return undefined }
    if (certOk.size >= CERT_CACHE_MAX) certOk.clear()
    certOk.add(certKey)
    return parsed.value
  }

  async function handle (ps: PeerState, bytes: Uint8Array): Promise<void> {
    if (ps.closed) return
    const parsed = wire.readWire(ps.wire, bytes)
    if (!parsed.ok) return fail(ps, 0, new Uint8Array(0), parsed.code, parsed.message, true)
    const f = parsed.value
    const handler = handlers[f.type] as ((ps: PeerState, f: Frame) => Promise<void>) | undefined
    if (handler === undefined) return fail(ps, 0, new Uint8Array(0), 'relay/unexpected-frame', `clients do not send ${f.type}`, true)
    try {
      await handler(ps, f)
    } catch (e) {
      // Not the client's fault: the store failed (a database outage). It gets a retryable error
      // for this request (never an ack) and the socket closes, so it reconnects, here or elsewhere.
      log(`peer ${ps.peer.id}: ${f.type} failed: ${e instanceof Error ? e.message : String(e)}`)
      fail(ps, 'reqId' in f ? f.reqId : 0, 'spaceId' in f ? f.spaceId : new Uint8Array(0), 'relay/unavailable', 'the relay could not reach its storage; try again', true)
    }
  }

  function internalError (ps: PeerState, what: string, e: unknown): void {
    log(`peer ${ps.peer.id}: internal error in ${what}: ${e instanceof Error ? e.message : String(e)}`)
    fail(ps, 0, new Uint8Array(0), 'relay/internal', 'the relay failed to handle this frame', true)
  }

  function unsubscribe (ps: PeerState, key: string): void {
    const m = ps.spaces.get(key)
    if (m === undefined) return
    ps.spaces.delete(key)
    const subs = subscribers.get(key)
    subs?.delete(ps)
    if (subs?.size === 0) subscribers.delete(key)
    for (const author of m.presenceAuthors?.values() ?? []) {
      const bytes = frame.writeFrame({ type: 'peerLeft', spaceId: m.spaceId, author })
      for (const other of subs ?? []) if (!other.closed) other.peer.send(bytes)
      bus?.publish({ type: 'peerLeft', spaceId: m.spaceId, author })
    }
  }

  return {
    open (peer, opts) {
      const ps: PeerState = { peer, hellos: undefined, serial: ++serials, creates: 0, spaces: new Map(), closed: false, queue: Promise.resolve(), wire: wire.createSession(hashOf, prepared) }
      peers.set(peer.id, ps)
      // The relay's caps too: compact frames are written to it only once its hello offers them.
      if (opts?.welcome === true) send(ps, { type: 'welcome', spaceId: new Uint8Array(0), challenge: challengeOf(ps), caps: wire.CAPS })
    },
    frame (peer, bytes) {
      const ps = peers.get(peer.id)
      if (ps === undefined || ps.closed) return Promise.resolve()
      ps.queue = ps.queue.then(() => handle(ps, bytes))
      return ps.queue
    },
    closed (peer) {
      const ps = peers.get(peer.id)
      if (ps === undefined) return
      ps.closed = true
      peers.delete(peer.id)
      for (const key of [...ps.spaces.keys()]) unsubscribe(ps, key)
    },
    get peerCount () { return peers.size },
    stop () { stopBus?.() }
  }
}
