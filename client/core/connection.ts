import { signCreate } from '../../shared/create-proof.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { authMessage } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import type { Emitter } from './events.js'
import type { Fetcher } from './fetcher.js'
import type { Outgoing } from './outgoing.js'
import type { StreamReader } from './reader.js'
import type { Requests } from './requests.js'
import type { SnapshotSync } from './snapshot-sync.js'
import type { ConnectionState, SpaceEvents } from './space-types.js'

/**
 * The join of a session on its relay connection (DESIGN.md §4, §7; PROTOCOL.md, Exchanges: join):
 * hello, challenge, auth from the resume point, catch-up, and routing each frame the relay sends to
 * the part that waits for it. It keeps what one connection knows (joined, caught up, the last live
 * cursor) and what must outlive a reconnect (the retry floor and its backoff); the session state
 * itself (cursor, registered) stays the session's, reached through `ConnectionHost`.
 *
 * - Nothing the relay sends is taken on trust: a head behind our resume point reads again from
 *   the start, a replayed or reordered live cursor is reported (and still read), and a handshake
 *   that does not complete in `ackTimeoutMs` (a frame lost or altered on the way) reconnects.
 * - The resume point never passes an entry that failed to verify (`retryFloor`): after tampered
 *   entries the session reconnects, backing off, and reads again from before the first bad one;
 *   only a catch-up in which everything verified lifts that floor.
 */
export interface ConnectionHost {
  readonly sodium: Sodium
  readonly keys: SpaceKeys
  /** The session's events: this part emits remote and presence, and waits on status. */
  readonly events: Emitter<SpaceEvents>
  readonly reader: Pick<StreamReader, 'receive' | 'stats'>
  readonly fetch: Pick<Fetcher, 'floor' | 'take' | 'answered' | 'failed'>
  readonly out: Pick<Outgoing, 'owns' | 'onAck' | 'onError'> | undefined
  readonly snapsync: Pick<SnapshotSync, 'hold' | 'onJoinSnapshot' | 'onAnnounced' | 'recheckSnapshots'>
  readonly requests: Pick<Requests, 'answer' | 'failAll'>
  /** The relay's cursor read up to, as the session state stores it (before any floor). */
  cursor: number
  /** The relay knows this space: no create is sent. (A view-only session never sends one: it cannot sign it.) */
  readonly registered: boolean
  closed (): boolean
  send (f: Frame): boolean
  reconnect (): void
  nextReqId (): number
  alert (code: string, message: string, extra?: { author?: string; cursor?: number }): void
  scheduleMeta (): void
  emitStatus (): void
  /** The relay confirmed the space exists (our create, or an earlier one whose ack was lost). */
  register (): void
  /** Joined: ask again for what the last connection left open, and send what waits. */
  online (): void
  /** The connection closed: the parts forget what was in flight on it. */
  offline (): void
  /** Entries were read: the session's counters follow the reader's. */
  syncStats (): void
  /** Counts something the relay sent that was refused. */
  rejected (): void
  /** Members' receipts (receipt-sync.ts). */
  receipts (f: FrameOf<'receipts'>): void
  /** Key changes (epoch-sync.ts), and the relay's word that our access key was replaced. */
  keyChanges (f: FrameOf<'keyChanges'>): void
  replaced (message: string): void
  /** The catch-up after joining ended. */
  caughtUp (): void
}

export interface ConnectionOptions {
  /** The handshake must complete in this time, or the session reconnects. */
  readonly ackTimeoutMs: number
}

export class Connection {
  // Read by the session (its status, its other parts); written only here.
  state: ConnectionState = 'connecting'
  joined = false
  /** The relay delivered everything it had when this connection joined. */
  caughtUp = false
  lastSyncedAt: number | undefined
  /** The reqId of this connection's auth: its answers are the join (ok, snapshot, catch-up). */
  authReq = 0
  /** `auth` went on this connection: a second challenge (the answer to our hello after `welcome`) is not answered again. */
  private authSent = false
  /** The reqId of this connection's create, when it sent one. */
  private createReq = -1
  /** Join refusals already alerted since the last join (each is retried with backoff; one alert says it). */
  private readonly refusalsAlerted = new Set<string>()
  private lastCursorThisConn = 0
  private retryFloor: number | undefined
  /** An entry failed to verify since this connection's auth (so its catch-up does not clear `retryFloor`). */
  private failedSinceAuth = false
  private retryDelay = 500
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private joinTimer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly h: ConnectionHost, private readonly opts: ConnectionOptions) {}

  /** Joined, caught up, and nothing failed to verify since: what this replica holds is what the relay has. */
  ready (): boolean {
    return this.joined && this.caughtUp && this.retryFloor === undefined && this.h.fetch.floor === undefined && !this.h.closed()
  }

  /** Where catch-up resumes: the relay's cursor, but never past an entry that failed to verify or a log range still being read. */
  resumeCursor (): number {
    return Math.min(this.h.cursor, this.retryFloor ?? Infinity, this.h.fetch.floor ?? Infinity)
  }

  onOpen (): void {
    if (this.h.closed()) return
    this.state = 'connecting'
    this.lastCursorThisConn = 0
    this.createReq = -1
    this.authSent = false
    this.h.send({ type: 'hello', reqId: this.h.nextReqId(), spaceId: this.h.keys.spaceId })
    // Any frame of the handshake can be lost or altered on the way: without a deadline the session
    // waited for a challenge or an ok forever.
    if (this.joinTimer !== undefined) clearTimeout(this.joinTimer)
    this.joinTimer = setTimeout(() => {
      this.joinTimer = undefined
      if (this.joined || this.h.closed()) return
      this.h.alert('sync/join-timeout', 'the relay did not complete the handshake in time; reconnecting')
      this.h.reconnect()
    }, this.opts.ackTimeoutMs)
    this.h.emitStatus()
  }

  /** Once per connection, with its challenge (from `welcome` or from the answer to our hello: the same value). */
  private authenticate (challenge: Uint8Array): void {
    if (this.authSent) return
    this.authSent = true
    const k = this.h.keys
    // Creating signs this connection's challenge with the write and access keys (shared/create-proof.ts):
    // only an editor can register a space, and the proof is good on this connection only. The
    // auth right behind it is handled after it (the relay handles one peer's frames in order).
    if (!this.h.registered && k.write !== undefined) {
      const proof = signCreate(this.h.sodium, k.spaceId, k.access, k.write, challenge)
      this.createReq = this.h.nextReqId()
      this.h.send({ type: 'create', reqId: this.createReq, spaceId: k.spaceId, accessPk: k.access.publicKey, writePk: k.writePk, ...proof })
    }
    const signature = this.h.sodium.crypto_sign_detached(authMessage(k.spaceId, challenge), k.access.privateKey)
    this.authReq = this.h.nextReqId()
    this.failedSinceAuth = false
    this.h.send({ type: 'auth', reqId: this.authReq, spaceId: k.spaceId, signature, after: this.resumeCursor() })
  }

  onClose (): void {
    // Requests die with the connection: answered now, not after their timeout.
    this.h.requests.failAll('sync/offline', 'the connection to the relay closed')
    this.joined = false
    this.caughtUp = false
    this.state = 'offline'
    this.h.offline()
    if (this.joinTimer !== undefined) clearTimeout(this.joinTimer)
    this.joinTimer = undefined
    this.h.emitStatus()
  }

  onProtocolError (code: string, message: string): void {
    this.h.alert('sync/bad-frame', `the relay sent an invalid frame (${code}: ${message})`)
    this.h.rejected()
  }

  onFrame (f: Frame): void {
    if (this.h.closed()) return
    if (this.h.snapsync.hold(f)) return
    switch (f.type) {
      case 'welcome':
        // This connection's challenge, before the answer to our hello: auth goes now, right
        // behind the hello (the relay handles one peer's frames in order), a round trip sooner.
        if (this.state === 'connecting') this.authenticate(f.challenge)
        return
      case 'challenge':
        this.authenticate(f.challenge)
        return
      case 'ok':
        if (this.h.requests.answer(f)) return undefined
        return this.onOk(f)
      case 'snapshots':
        if (f.reqId === this.authReq) return this.h.snapsync.onJoinSnapshot(f)
        if (f.reqId === 0) return this.h.snapsync.onAnnounced(f)
        this.h.requests.answer(f)
        return undefined
      case 'snapshotPart':
        this.h.requests.answer(f)
        return undefined
      case 'entries':
        if (this.h.requests.answer(f)) return undefined
        return this.onEntries(f)
      case 'receipts':
        this.h.receipts(f)
        return undefined
      case 'keyChanges':
        this.h.keyChanges(f)
        return undefined
      case 'error': return this.onError(f)
      case 'presenceOut':
      case 'peerLeft':
        this.h.events.emit('presence', f)
        return undefined
      default: return undefined
    }
  }

  private onOk (f: FrameOf<'ok'>): void {
    if (f.reqId === this.authReq) {
      if (this.joinTimer !== undefined) clearTimeout(this.joinTimer)
      this.joinTimer = undefined
      if (f.cursor < this.resumeCursor()) {
        // The relay's head is below the point we resumed from: our cursor is not one this relay
        // gave, or the relay lost entries. Resuming there would skip every entry up to it, live
        // ones included: read again from the start (the snapshot it then sends is one we hold).
        this.h.alert('sync/cursor-ahead', `the relay's head ${f.cursor} is behind our resume point ${this.resumeCursor()}; reading again from the start`)
        this.h.cursor = 0
        this.h.scheduleMeta()
        this.h.reconnect()
        return
      }
      // Admitted with our access key: the space exists on this relay, whoever registered it.
      if (!this.h.registered) this.h.register()
      this.refusalsAlerted.clear()
      this.joined = true
      this.state = 'online'
      this.h.emitStatus()
      // Gaps asked for on the last connection were answered on it, or not at all: ask again.
      this.h.online()
      return
    }
    if (this.h.out?.owns(f.reqId) === true) return this.h.out.onAck(f.reqId, f.cursor)
    if (f.reqId === this.createReq && !this.h.registered) this.h.register()
  }

  private onError (f: FrameOf<'error'>): void {
    if (this.h.requests.answer(f)) return
    if (this.h.fetch.failed(f.reqId)) return
    if (f.reqId === this.createReq && f.reqId >= 0) {
      // Our create went through before but its ack was lost; the access check that follows settles it.
      if (f.code === 'relay/space-exists') return this.h.registered ? undefined : this.h.register()
      // Refused (a creation limit, or a proof the relay does not accept): the space stays on this
      // device and the create is sent again on a later connection, backing off.
      this.alertOnce('sync/create-refused', `the relay did not register this space (${f.code}: ${f.message}); it stays on this device and is registered later`)
      this.scheduleRetry()
      return
    }
    if (f.reqId === this.authReq && f.code === 'relay/epoch-replaced') {
      // Our access key is of an older epoch (issue 11): the key changes came just before; the
      // session moves on with them, or says the link was replaced. No retry with these keys.
      if (this.joinTimer !== undefined) clearTimeout(this.joinTimer)
      this.joinTimer = undefined
      this.h.replaced(f.message)
      return
    }
    if (f.reqId === this.authReq && f.code === 'relay/no-space') {
      // A view link (or an edit link) opened before the space's creator reached this relay. The
      // refused create has been alerted already. An answer, not a lost frame: no join timeout.
      if (this.joinTimer !== undefined) clearTimeout(this.joinTimer)
      this.joinTimer = undefined
      if (this.h.registered) this.alertOnce('sync/no-space', 'this space is not on the relay yet: it appears once a member with the edit link connects; trying again')
      this.scheduleRetry()
      return
    }
    if (this.h.out?.onError(f.reqId, f.code, f.message) === true) return
    if (f.reqId === 0 || f.reqId === this.authReq) this.h.alert('sync/relay-error', `the relay answered ${f.code}: ${f.message}`)
  }

  private alertOnce (code: string, message: string): void {
    if (this.refusalsAlerted.has(code)) return
    this.refusalsAlerted.add(code)
    this.h.alert(code, message)
  }

  private onEntries (f: FrameOf<'entries'>): void {
    const isFetch = this.h.fetch.take(f.reqId)
    const live = !isFetch && (f.reqId === 0 || f.reqId === this.authReq)
    if (!isFetch && !live) return
    let cursor = this.h.cursor
    let failed = false
    const before = this.h.reader.stats.applied
    for (const e of f.entries) {
      if (live) {
        if (e.cursor <= this.lastCursorThisConn) {
          // Still read: the stream checks below drop a replay and put a reordered entry in place;
          // dropping it here lost a stream's last entry for good (nothing after it shows the gap).
          this.h.alert('sync/replay-or-reorder', `the relay sent cursor ${e.cursor} after ${this.lastCursorThisConn}`, { cursor: e.cursor })
        }
        this.lastCursorThisConn = Math.max(this.lastCursorThisConn, e.cursor)
      }
      const outcome = this.h.reader.receive(e)
      if (outcome === 'retry') {
        failed = true
        this.failedSinceAuth = true
        if (this.retryFloor === undefined || e.cursor - 1 < this.retryFloor) this.retryFloor = e.cursor - 1
      }
      if (live) cursor = Math.max(cursor, e.cursor)
    }
    this.h.syncStats()
    this.h.cursor = cursor
    if (this.h.reader.stats.applied > before) {
      this.h.events.emit('remote', undefined)
      this.h.snapsync.recheckSnapshots()
    }
    this.h.scheduleMeta()
    if (failed) this.scheduleRetry()
    if (isFetch) this.h.fetch.answered(f)
    if (f.reqId === this.authReq && !f.more && f.entries.length === 0) {
      this.caughtUp = true
      this.lastSyncedAt = Date.now()
      // Everything in this catch-up verified: what failed before was read again intact.
      if (!this.failedSinceAuth) this.retryFloor = undefined
      if (this.retryFloor === undefined) this.retryDelay = 500
      this.h.emitStatus()
      this.h.caughtUp()
    }
  }

  /** Resolves once the relay has delivered everything it had when this session (re)joined. */
  whenCaughtUp (timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.caughtUp) return resolve()
      const off = this.h.events.on('status', s => { if (s.caughtUp) { off(); clearTimeout(timer); resolve() } })
      const timer = setTimeout(() => { off(); reject(new Error('timed out waiting for the relay')) }, timeoutMs)
    })
  }

  /** The relay stored one of ours at `cursor`. */
  acked (cursor: number): void {
    // Once caught up, the relay has sent us every entry below an ack's cursor before the ack
    // itself (it forwards each entry right after its commit, in cursor order), so our own write
    // moves the resume point too; without this a lone writer's snapshots would cover nothing.
    if (this.caughtUp && cursor > this.h.cursor) {
      this.h.cursor = cursor
      this.lastCursorThisConn = Math.max(this.lastCursorThisConn, cursor)
      this.h.scheduleMeta()
    }
    this.lastSyncedAt = Date.now()
  }

  /** A snapshot covering the log up to `covers` was applied: resume after it. */
  advance (covers: number): void {
    this.h.cursor = Math.max(this.h.cursor, covers)
    this.lastCursorThisConn = Math.max(this.lastCursorThisConn, covers)
  }

  /** What was read could not be used for a reason the relay could cause: read again from the resume point. */
  readAgain (): void {
    this.failedSinceAuth = true
    this.retryFloor = Math.min(this.retryFloor ?? Infinity, this.resumeCursor())
    this.scheduleRetry()
  }

  /** After tampered entries, reconnect (backing off) and read again from before the first bad one. */
  private scheduleRetry (): void {
    if (this.retryTimer !== undefined) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.h.reconnect()
    }, this.retryDelay)
    this.retryDelay = Math.min(this.retryDelay * 2, 30_000)
  }

  stop (): void {
    for (const t of [this.retryTimer, this.joinTimer]) if (t !== undefined) clearTimeout(t)
  }
}
