import * as Y from 'yjs'
import { fromB64u, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, type SpaceKeys, type SpaceSecrets } from '../../shared/keys.js'
import { NO_CERT } from '../../shared/sign.js'
import type { Checkpoint } from '../../shared/checkpoint.js'
import type { Sodium } from '../../shared/sodium.js'
import { checkBindings } from './apply.js'
import { Connection, type ConnectionHost } from './connection.js'
import { Emitter } from './events.js'
import { Fetcher } from './fetcher.js'
import { checkpointOf, FreshnessCheck } from './freshness.js'
import type { LinkMember, RelayLink } from './link.js'
import { decodeMeta, encodeMeta, freshMeta, ownHeadsOf, withOwnHeads, type Meta } from './meta.js'
import { StreamReader } from './reader.js'
import { Requests } from './requests.js'
import { ShadowApplier } from './shadow.js'
import { compactLocal } from './compact-update.js'
import { headRefsOf, sortedHeads, type StreamHeadRef } from './snapshot.js'
import { SnapshotSync, type SnapshotSyncHost } from './snapshot-sync.js'
import type { SpaceStore, WriteBatch } from './store.js'
import { Outgoing, type OutgoingHost } from './outgoing.js'
import { StreamWriter } from './writer.js'
import { ReceiptSync, type ReceiptSyncHost } from './receipt-sync.js'
import type { Receipts } from './receipts.js'
import { Members } from './members.js'
import { StoredWaiters } from './stored-waiters.js'
import { adoptLink, EpochSync } from './epoch-sync.js'

/**
 * A space session: one Y.Doc kept in sync with a relay that cannot read it (DESIGN.md §4–§7).
 * This file only wires the parts, each with one job and tested on its own:
 *
 * - writer.ts, outgoing.ts: this session's own stream (fresh per session), the outbox, batching, appends;
 * - reader.ts, fetcher.ts: other streams, verified, ordered, buffered, blamed; gaps and ranges asked for;
 * - shadow.ts: all-or-nothing apply of remote content;
 * - snapshotter.ts, snapshot-sync.ts: sealing snapshots, checking others' (as a joiner and as a member), attesting;
 * - connection.ts, requests.ts: the join (hello, challenge, auth, catch-up, retries), frame routing, answers;
 * - receipts.ts, receipt-sync.ts: what members say they hold (keep until seen, withholding, forks); members.ts: who is in the space;
 * - freshness.ts: a new device reaching the invite link's checkpoint before its state counts as current;
 * - meta.ts: the small persisted session state. What is left here is persistence (one ordered write queue, the session state with each write) and the session's public face.
 */
import type { Alert, SnapshotInfo, SpaceEvents, SpaceOptions, SpaceStatus } from './space-types.js'
import { applyStored, encodeStateV1 } from './state.js'
import { onLocalUpdates } from './local-updates.js'
import { within } from './within.js'
export type { Alert, ConnectionState, SnapshotInfo, SpaceEvents, SpaceOptions, SpaceStatus } from './space-types.js'

const META_DELAY_MS = 200
/** Envelopes since the last snapshot that make a closing writer seal one. */
const SNAPSHOT_ON_CLOSE = 32
const unb64 = (s: string): Uint8Array => fromB64u(s) ?? unexpected('corrupt local state: bad base64')
const unexpected = (m: string): never => { throw new Error(m) }

export class Space implements LinkMember {
  readonly doc: Y.Doc
  readonly keys: SpaceKeys
  readonly secrets: SpaceSecrets
  readonly spaceKey: string
  readonly events = new Emitter<SpaceEvents>()
  readonly alerts: Alert[] = []
  /** Counters for tests and the status panel. */
  readonly stats = { applied: 0, duplicates: 0, rejected: 0, sealed: 0, resealed: 0 }

  private readonly sodium: Sodium
  private readonly store: SpaceStore
  private readonly link: RelayLink
  private readonly device: Device | undefined
  private readonly devicePkHex: string
  private meta: Meta
  private readonly bindings = new Map<number, string>()
  private readonly shadow: ShadowApplier
  private readonly writer: StreamWriter | undefined
  private readonly reader: StreamReader
  private readonly snapsync: SnapshotSync
  private readonly rsync: ReceiptSync
  private readonly fresh: FreshnessCheck
  /** Who is in the space (issue 11): sealed profiles, roles, last seen. */ readonly members: Members
  /** Key changes taken and made (issue 11): epoch-sync.ts. */ readonly epochs: EpochSync
  private readonly out: Outgoing | undefined
  /** Inside the transaction that applies remote content (and the cleanups Yjs runs after it). */
  private applyingRemote = false
  private io: Promise<void> = Promise.resolve()
  private ioError: unknown
  private metaTimer: ReturnType<typeof setTimeout> | undefined
  /** Remote updates applied to the doc and not yet stored; written with the next meta. */
  private remoteUnsaved: Uint8Array[] = []
  private stopLocal = (): void => {}
  private readonly conn: Connection
  private readonly fetch: Fetcher
  private closed = false
  private storeClosed = false
  private readonly stored = new StoredWaiters()
  private readonly requests: Requests
  readonly gapTimeoutMs: number
  private readonly ackTimeoutMs: number

  private constructor (opts: SpaceOptions, meta: Meta, secrets: SpaceSecrets, isNew: boolean) {
    this.sodium = opts.sodium
    this.store = opts.store
    this.link = opts.link
    this.meta = meta
    this.secrets = secrets
    this.keys = deriveKeys(this.sodium, secrets)
    this.spaceKey = toHex(secrets.spaceId)
    const pk = unb64(meta.device.pk)
    this.devicePkHex = toHex(pk)
    const cert = certifyDevice(this.sodium, this.keys, pk)
    this.device = cert === undefined ? undefined : { publicKey: pk, privateKey: unb64(meta.device.sk), cert }
    this.doc = new Y.Doc()
    this.writer = this.device === undefined ? undefined : new StreamWriter(this.sodium, this.keys, this.device)
    this.reader = new StreamReader(this.sodium, this.keys, {
      apply: (updates, author, cursor, bytes) => this.applyRemote(updates, author, cursor, bytes),
      alert: (code, message, extra) => this.alert(code, message, extra),
      requestGap: (sk, author, stream, fromSeq) => this.fetch.gap(sk, author, stream, fromSeq),
      clearGap: sk => this.fetch.clearGap(sk)
    }, () => this.writer === undefined ? '' : `${this.devicePkHex}:${this.writer.stream}`)
    this.fetch = new Fetcher({
      spaceId: this.keys.spaceId,
      reader: this.reader,
      gapTimeoutMs: opts.gapTimeoutMs ?? 5000,
      send: f => this.link.send(f),
      nextReqId: () => this.requests.nextId(),
      alert: (code, message, extra) => this.alert(code, message, extra),
      scheduleMeta: () => this.scheduleMeta()
    })
    for (const [k, h] of meta.heads) this.reader.heads.set(k, h)
    for (const [k, seq] of meta.stuck) this.reader.stuck.set(k, seq)
    this.reader.restoreSuspects(meta.suspects)
    for (const [c, a] of meta.bindings) this.bindings.set(c, a)
    this.shadow = new ShadowApplier(this.doc)
    this.gapTimeoutMs = opts.gapTimeoutMs ?? 5000
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000
    this.out = this.writer === undefined ? undefined : new Outgoing(this.outgoingHost(this.writer), { batchMs: opts.batchMs ?? 10, maxInflight: opts.maxInflight ?? 2, ackTimeoutMs: this.ackTimeoutMs })
    this.snapsync = new SnapshotSync(this.snapshotHost(), {
      snapshotEvery: opts.snapshotEvery ?? 256,
      snapshotBytes: opts.snapshotBytes ?? 256 * 1024,
      snapshotIdleMs: opts.snapshotIdleMs ?? 5_000,
      // A session told when to snapshot (tests, the bench's baselines) gets exactly that.
      stateFactor: opts.snapshotStateFactor ?? (opts.snapshotEvery === undefined && opts.snapshotIdleMs === undefined ? 1 : 0)
    })
    this.snapsync.snaps.held = meta.snapshot
    this.requests = new Requests(this.keys.spaceId, { send: f => this.link.send(f), taken: id => id === this.conn.authReq || this.out?.owns(id) === true || this.fetch.owns(id) })
    this.conn = new Connection(this.connectionHost(), { ackTimeoutMs: this.ackTimeoutMs })
    // The last sync of an earlier session until this one syncs: a reload offline says how old the copy is.
    this.conn.lastSyncedAt = meta.lastSyncedAt
    this.rsync = new ReceiptSync(this.receiptHost(), { receiptMs: opts.receiptMs ?? 30_000, withholdMs: opts.withholdMs ?? 15_000, off: opts.receipts === false })
    this.fresh = new FreshnessCheck({
      reader: this.reader, devicePkHex: this.devicePkHex, retryMs: this.gapTimeoutMs, fetchStream: (a, st, from) => this.fetch.stream(a, st, from),
      alert: (code, message, extra) => this.alert(code, message, extra), changed: () => this.emitStatus(),
      clear: code => { this.alerts.splice(0, this.alerts.length, ...this.alerts.filter(a => a.code !== code)); this.events.emit('cleared', code) }
    }, opts.checkpoint, isNew && opts.create !== true)
    this.events.on('remote', () => this.fresh.applied())
    this.members = new Members({ sodium: this.sodium, keys: this.keys, devicePkHex: this.devicePkHex, device: { publicKey: pk, privateKey: unb64(meta.device.sk), cert }, lastSeen: () => this.rsync.receipts.lastSeen,
      joined: () => this.conn.joined && !this.closed, request: make => this.requests.request(make), alert: (c, m) => this.alert(c, m), changed: () => this.events.emit('members', undefined), now: () => Date.now() })
    this.epochs = new EpochSync({ sodium: this.sodium, keys: this.keys, secrets, devicePkHex: this.devicePkHex, device: { publicKey: pk, privateKey: unb64(meta.device.sk), cert }, meta: () => this.meta, encodeMeta: m => encodeMeta(m, this.conn.resumeCursor()),
      outbox: () => this.writer?.outbox.map(e => e.env) ?? [], flush: () => this.flush(), whenStored: t => this.whenStored(t), write: b => this.persist(b), members: () => this.members.list(), headRefs: () => this.headRefs(),
      request: make => this.requests.request(make), alert: (c, m, x) => this.alert(c, m, x), done: e => { this.link.remove(this); this.requests.failAll('sync/epoch-moved', 'the space moved to a new epoch'); this.events.emit('epoch', e) } })
    if (meta.previous !== undefined) { this.reader.setPrevious(deriveKeys(this.sodium, meta.previous.secrets), meta.previous.frontier); this.members.seed(meta.previous.members ?? []) }
  }

  /** What the receipts part may see and do of this session. */
  private receiptHost (): ReceiptSyncHost {
    return {
      sodium: this.sodium, keys: this.keys, device: this.device, devicePkHex: this.devicePkHex, reader: this.reader, writer: this.writer,
      held: () => this.snapsync.snaps.held, send: f => this.link.send(f), nextReqId: () => this.requests.nextId(),
      alert: (code, message, extra) => this.alert(code, message, extra),
      dropOwn: envs => { void this.persist({ outboxDrop: envs }); this.emitStatus() },
      newerSnapshot: seq => this.snapsync.lookForNewer(seq), ready: () => this.conn.ready(), catchUp: env => this.snapsync.catchUp(env),
      fetchStream: (author, stream, fromSeq) => { void this.fetch.stream(author, stream, fromSeq) },
      request: (make, t) => this.requests.request(make, t), requeue: () => this.out?.requeue(), onRemote: fn => this.events.on('remote', fn),
      answerers: () => this.members.recentEditors()
    }
  }

  /** What the sending part may see and do of this session. */
  private outgoingHost (writer: StreamWriter): OutgoingHost {
    return {
      writer, spaceId: this.keys.spaceId, joined: () => this.conn.joined, closed: () => this.closed,
      send: f => this.link.send(f), nextReqId: () => this.requests.nextId(), reconnect: () => this.link.reconnect(),
      alert: (code, message) => this.alert(code, message), compact: updates => compactLocal(this.doc, updates),
      sealed: (updates, env) => {
        for (const c of new Set(updates.flatMap(u => [...Y.parseUpdateMeta(u).from.keys()]))) this.bindings.set(c, this.devicePkHex)
        this.stats.sealed++
        return this.persist(this.withMeta({ updates, outboxAdd: [env] }))
      },
      persist: (b, meta) => this.persist(meta === true ? this.withMeta(b) : b),
      acked: (cursor, o) => {
        this.conn.acked(cursor)
        // Counted toward the next snapshot at its place in the log, as readers count it.
        this.snapsync.noteActivity(o.env.length, true, { author: this.devicePkHex, cursor })
        this.scheduleMeta()
        if (o.stream !== writer.stream) this.reader.ownStored(this.devicePkHex, o, cursor)
      },
      statusChanged: () => {
        this.stats.resealed = this.out?.resealed ?? 0
        this.emitStatus()
      }
    }
  }

  /** What the snapshot part may see and do of this session. */
  private snapshotHost (): SnapshotSyncHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const s = this
    return {
      sodium: s.sodium, keys: s.keys, device: s.device, devicePkHex: s.devicePkHex, doc: s.doc,
      shadow: s.shadow, reader: s.reader, writer: s.writer, bindings: s.bindings, gapTimeoutMs: s.gapTimeoutMs,
      get closed () { return s.closed },
      ready: () => s.conn.ready(),
      unsealed: () => s.out?.unsealed ?? false,
      request: (make, t) => s.requests.request(make, t),
      fetchStream: (author, stream, fromSeq) => s.fetch.stream(author, stream, fromSeq),
      alert: (code, message, extra) => s.alert(code, message, extra),
      flush: () => s.flush(),
      unsynced: () => s.unsynced, whenAcked: t => { const done = s.writer?.ackedSinceNow(); return done === undefined ? Promise.resolve() : s.stored.wait(t, () => s.closed || done()) },
      resumeCursor: () => s.conn.resumeCursor(),
      headRefs: () => s.headRefs(),
      scheduleMeta: () => s.scheduleMeta(),
      rejected: () => { s.stats.rejected++ },
      remote: () => s.events.emit('remote', undefined),
      verifiedOthers: heads => s.rsync.coveredBy(heads),
      heldChanged: () => s.rsync.snapshotHeld(), owed: () => s.rsync.receipts.owedStreams(),
      readAgain: () => s.conn.readAgain(),
      replay: frames => { for (const f of frames) s.onFrame(f) },
      fetchLog: upTo => s.fetch.log(s.conn.resumeCursor(), upTo),
      advance: covers => s.conn.advance(covers),
      applyState: state => {
        s.applyingRemote = true
        try {
          const r = s.shadow.apply([state], s, true)
          return r.ok ? { ok: true } : r
        } finally {
          s.applyingRemote = false
        }
      },
      compactLocal: () => {
        if (s.storeClosed) return
        s.remoteUnsaved = []
        const state = encodeStateV1(s.doc)
        const meta = s.encodeMeta()
        s.io = s.io.then(() => s.store.compact(state, meta)).catch(e => {
          s.alert('store/write-failed', `local storage failed: ${e instanceof Error ? e.message : String(e)}`)
        })
      }
    }
  }

  /** What the connection part may see and do of this session. */
  private connectionHost (): ConnectionHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const s = this
    return {
      sodium: s.sodium, keys: s.keys, events: s.events, reader: s.reader, fetch: s.fetch, out: s.out, snapsync: s.snapsync, requests: s.requests,
      get cursor () { return s.meta.cursor }, set cursor (c) { s.meta.cursor = c }, get registered () { return s.meta.registered },
      closed: () => s.closed, send: f => s.link.send(f), reconnect: () => s.link.reconnect(), nextReqId: () => s.requests.nextId(),
      alert: (code, message, extra) => s.alert(code, message, extra),
      scheduleMeta: () => s.scheduleMeta(),
      emitStatus: () => s.emitStatus(),
      register: () => { s.meta.registered = true; void s.persist(s.withMeta()) },
      online: () => { s.fetch.continueGaps(); s.out?.pump(); s.out?.schedule() },
      offline: () => { s.out?.onClose(); s.fetch.onClose(); s.snapsync.reset() },
      syncStats: () => {
        s.stats.applied = s.reader.stats.applied
        s.stats.duplicates = s.reader.stats.duplicates
        s.stats.rejected = Math.max(s.stats.rejected, s.reader.stats.rejected)
      },
      rejected: () => { s.stats.rejected++ },
      receipts: f => s.rsync.onReceipts(s.members.take(f)), keyChanges: f => { void s.epochs.onKeyChanges(f) }, replaced: m => s.epochs.replaced(m),
      caughtUp: () => { s.rsync.start(); s.rsync.caughtUp(); void s.fresh.caughtUp(); void s.members.announce(); void s.epochs.afterJoin(() => s.snapsync.snapshot()) }
    }
  }

  /** Opens a space from its store (creating the local state from `secrets` the first time) and starts syncing. */
  static async open (opts: SpaceOptions): Promise<Space> {
    const stored = await opts.store.load()
    let meta: Meta
    if (stored.meta !== undefined) {
      meta = decodeMeta(stored.meta)
    } else {
      const s = opts.secrets
      if (s === undefined) throw new Error('no local state for this space and no secrets to start one')
      meta = freshMeta(opts.sodium, s, opts.create === true)
    }
    // Which keys: the stored ones, or a newer epoch's from the link, never an older one (epoch-sync.ts).
    const adopted = adoptLink(opts.sodium, meta, opts.secrets, stored.outbox)
    const space = new Space(opts, meta, meta.secrets, stored.meta === undefined)
    space.load(stored.updates, adopted.outbox)
    if (stored.meta === undefined || adopted.drop.length > 0) await space.store.write({ meta: space.encodeMeta(), outboxDrop: adopted.drop })
    else if (stored.updates.length > 256) await space.store.compact(encodeStateV1(space.doc))
    space.stopLocal = onLocalUpdates(space.doc, o => o === space || o === 'load' || space.epochs.over, space.onDocUpdate)
    // Own changes of the old epoch the key change did not cover: sealed again in this one (issue 11).
    for (const u of meta.carry ?? []) space.out?.local(u)
    meta.carry = undefined
    space.link.add(space)
    return space
  }

  get readOnly (): boolean { return this.device === undefined }

  get status (): SpaceStatus {
    return { connection: this.conn.state, unsynced: this.unsynced, caughtUp: this.conn.caughtUp, lastSyncedAt: this.conn.lastSyncedAt, freshness: this.fresh.status }
  }

  /** Local changes not yet durably stored by the relay (sealed or still gathering). */
  get unsynced (): number { return this.out?.unsynced ?? 0 }

  /** What members' receipts said (last seen, what this replica still lacks): receipts.ts. */
  get receipts (): Receipts { return this.rsync.receipts }

  /** Authentic envelopes refused for their author's fault, kept as evidence (newest last). */
  get evidence (): readonly { code: string; author: string; envelope: Uint8Array }[] { return this.reader.evidence }

  private load (updates: Uint8Array[], outbox: Uint8Array[]): void {
    for (const e of applyStored(this.doc, updates, 'load')) this.alert('store/corrupt-update', `a locally stored update could not be applied: ${e}`)
    this.shadow.resync()
    // What earlier sessions of this device had acknowledged (their heads in the session state)
    // waits in the outbox to be seen, and is read back rather than sent again.
    this.writer?.restore(outbox, ownHeadsOf(this.meta.heads, this.devicePkHex))
    // A fresh clientID per session, never one any device (this one's other sessions included) wrote.
    while (this.bindings.has(this.doc.clientID) || this.doc.store.clients.has(this.doc.clientID)) {
      this.doc.clientID = globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!
    }
  }

  private encodeMeta (): Uint8Array {
    // Stored as the resume point, never past an entry that failed to verify: the retry floor lives
    // only in memory, and a restart from the cursor skipped that entry and those buffered behind it.
    return encodeMeta({ ...this.meta, heads: withOwnHeads(this.reader.heads, this.devicePkHex, this.writer?.storedHeads() ?? [], new Set(this.writer?.outbox.map(e => e.stream))), stuck: this.reader.stuck, suspects: this.reader.suspects(), bindings: this.bindings, snapshot: this.snapsync.snaps.held, lastSyncedAt: this.conn.lastSyncedAt }, this.conn.resumeCursor())
  }

  /** Serialises store writes so the journal order is the order things happened in. */
  private persist (batch: WriteBatch): Promise<void> {
    // Late answers (a snapshot judged, an ack) after close() have nothing left to write to.
    if (this.storeClosed) return this.io
    const p = this.io.then(() => this.store.write(batch))
    this.io = p.catch(e => {
      this.ioError = e
      this.alert('store/write-failed', `local storage failed: ${e instanceof Error ? e.message : String(e)}`)
    })
    return this.io
  }

  private alert (code: string, message: string, extra: { author?: string; cursor?: number } = {}): void {
    const a: Alert = { code, message, at: Date.now(), ...extra }
    this.alerts.push(a)
    if (this.alerts.length > 1000) this.alerts.shift()
    this.events.emit('alert', a)
  }

  private emitStatus (): void {
    this.events.emit('status', this.status)
    this.stored.wake()
  }

  // Outgoing ----------------------------------------------------------------------------------
  private readonly onDocUpdate = (update: Uint8Array): void => {
    // Own changes, and the cleanups Yjs runs after a remote change (not what this space applied:
    // onLocalUpdates does not even encode those), reach the shadow too: after the envelope is sent.
    if (this.writer !== undefined) this.out?.local(update)
    this.shadow.mirror(update)
    if (this.writer === undefined) {
      // Yjs itself follows a remote change to formatted text with a cleanup transaction (origin
      // null, so it looks local); that is no edit of the reader's.
      if (!this.applyingRemote) this.alert('space/read-only', 'this link is view-only: local changes are not sent')
    }
  }

  /** Seals what is gathered into one envelope now (and stores what was applied from others). */
  flush (): Promise<void> {
    const sealed = this.out?.flush()
    if (sealed !== undefined) return sealed
    // Nothing to seal, but what was applied from others is stored now (a closing tab or process).
    return this.remoteUnsaved.length > 0 ? this.persist(this.withMeta()) : this.io
  }

  /** Resolves when every local change is durably stored by the relay; rejects after `timeoutMs`. */
  whenStored (timeoutMs: number): Promise<void> {
    void this.flush()
    return this.stored.wait(timeoutMs, () => this.unsynced === 0)
  }

  /** Resolves once the relay has delivered everything it had when this session (re)joined. */
  whenCaughtUp (timeoutMs: number): Promise<void> { return this.conn.whenCaughtUp(timeoutMs) }

  // Connection and incoming ------------------------------------------------------------------
  onOpen (): void { this.conn.onOpen() }
  onClose (_reason: string): void { this.conn.onClose() }
  onProtocolError (code: string, message: string): void { this.conn.onProtocolError(code, message) }
  onFrame (f: Frame): void { this.conn.onFrame(f) }

  /** Binding check, then all-or-nothing apply through the shadow (reader.ts calls this). */
  private applyRemote (updates: Uint8Array[], author: string, cursor: number, bytes: number): { ok: true; changed: boolean } | { ok: false; code: string; message: string } {
    const bound = checkBindings(updates, author, this.bindings)
    if (!bound.ok) return bound
    this.applyingRemote = true
    let r
    try {
      r = this.shadow.apply(updates, this)
    } finally {
      this.applyingRemote = false
    }
    if (!r.ok) return r
    for (const c of bound.value) if (!this.bindings.has(c)) this.bindings.set(c, author)
    for (const u of updates) this.remoteUnsaved.push(u)
    // Counted as its sealer counts it (its bytes, at its place in the log): all cross the threshold alike.
    this.snapsync.noteActivity(bytes, false, { author, cursor })
    return { ok: true, changed: r.value.changed }
  }

  private scheduleMeta (): void {
    if (this.metaTimer !== undefined || this.closed) return
    this.metaTimer = setTimeout(() => {
      this.metaTimer = undefined
      void this.persist(this.withMeta())
    }, META_DELAY_MS)
  }

  /**
   * Every meta write carries the remote updates applied since the last one: heads, bindings and
   * cursor never name content the store lacks, and content never outruns its heads.
   */
  private withMeta (batch: WriteBatch = {}): WriteBatch {
    const remote = this.remoteUnsaved
    this.remoteUnsaved = []
    const updates = remote.length === 0 ? batch.updates : [...remote, ...(batch.updates ?? [])]
    return { ...batch, ...(updates === undefined ? {} : { updates }), meta: this.encodeMeta() }
  }

  // Snapshots (DESIGN.md §5) ---------------------------------------------------------------------
  /** Own stream head plus every head the reader holds, as snapshot heads. */
  private headRefs (): StreamHeadRef[] {
    const own = this.writer?.head
    return headRefsOf(this.reader.heads, own === undefined || this.device === undefined ? undefined : { author: this.device.publicKey, ...own })
  }

  /** Seals the document as the next snapshot of the chain and offers it to the relay. 'conflict': another writer
   * won (this replica checks theirs and carries on past it); 'skipped': not now (view-only, offline, a gap or a newer one pending). */
  snapshot (): Promise<'stored' | 'conflict' | 'skipped'> { return this.snapsync.snapshot() }

  /** Snapshots this session offered the relay and how many it kept. */
  get snapshotStats (): { readonly attempts: number; readonly stored: number } { return this.snapsync.stats }

  /** The snapshots the relay keeps (newest first), decrypted and signature-checked: `cove history`. */
  history (limit = 16): Promise<SnapshotInfo[]> { return this.snapsync.history(limit) }

  // Presence and fingerprint hooks (client/core/presence.ts, the web app's security panel) ------
  /** This device's key in this space; presence peers are keyed by it. */
  get devicePublicKey (): Uint8Array { return unb64(this.meta.device.pk) }

  /** Seals a presence envelope (DESIGN.md §8; the relay forwards it, stores nothing). A viewer signs with its device key and `NO_CERT`: shown as an unverified viewer. */
  sealPresence (plaintext: Uint8Array, stream: Uint8Array, seq: number): Uint8Array | undefined {
    const device = this.device ?? { publicKey: unb64(this.meta.device.pk), privateKey: unb64(this.meta.device.sk), cert: NO_CERT }
    return seal(this.sodium, this.keys, device, MsgType.presence, { stream, seq, prevHash: GENESIS_HASH }, plaintext)
  }

  /** Sends a sealed presence envelope on the live connection; false while not joined. */
  sendPresence (envelope: Uint8Array): boolean {
    return this.conn.joined && !this.closed && this.link.send({ type: 'presence', spaceId: this.keys.spaceId, envelope })
  }

  /** What this replica verified, for an invite link made now (freshness.ts): a device opening it refuses an older state. */
  checkpoint (): Checkpoint { return checkpointOf(this.reader.heads, this.writer?.storedHeads() ?? [], this.devicePkHex) }

  /** Every stream head this replica holds, its own included: the input of the space fingerprint. */
  streamHeads (): { stream: string; seq: number; hash: Uint8Array }[] { return sortedHeads(this.headRefs()) }

  private closing: Promise<void> | undefined
  /** Seals what is pending, waits for local writes, and leaves the relay connection. Every caller waits for the one close. */
  close (): Promise<void> { return (this.closing ??= this.shut()) }

  private async shut (): Promise<void> {
    await this.flush()
    // A member leaving after a burst of changes seals a snapshot on its way out (best effort): its
    // writers, and three others (snapshot-cadence.ts `closes`), so that the losers check and attest
    // the winner's (the last writer alone left it unattested when everyone left at once: a cold join
    // 421 KB instead of 164 KB); and one whose snapshot left own content after `covers` (`lagging`).
    if (!this.epochs.over && await this.snapsync.closes(this.members.recentEditors(), SNAPSHOT_ON_CLOSE)) {
      await within(this.whenStored(5000).then(() => this.epochs.over ? undefined : this.snapsync.snapshot()), 5000)
    }
    this.closed = true
    for (const part of [this.fetch, this.conn, this.out, this.snapsync, this.rsync, this.fresh]) part?.stop()
    this.requests.failAll('sync/closed', 'the space was closed')
    clearTimeout(this.metaTimer)
    this.metaTimer = undefined
    void this.persist(this.withMeta())
    this.stopLocal()
    if (this.link.connected) this.link.send({ type: 'leave', spaceId: this.keys.spaceId })
    this.link.remove(this)
    await this.io
    this.storeClosed = true
    await this.store.close()
    this.shadow.destroy()
    this.emitStatus()
    if (this.ioError !== undefined) throw this.ioError
  }
}
