import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { readBatch, writeBatch } from '../../client/core/apply.js'
import { readSnapshotBody, SNAPSHOT_STREAM, writeSnapshotBody, type StreamHeadRef } from '../../client/core/snapshot.js'
import { concat, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MsgType, parseEnvelope, STREAM_BYTES, writeHeader } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { authMessage, envelopeMessage, hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import { memberDevice } from './member.js'
import type { Prng } from './prng.js'
import { rawPeer, type RawPeer } from './raw-peer.js'

/**
 * A hostile member inside a randomized run (issue 7): it holds the edit link, so its device is
 * certified and everything it seals is a valid, signed envelope the relay stores and every replica
 * must open. It reads the space over a raw relay connection (test/support/raw-peer.ts) as an honest
 * replica would (each envelope all-or-nothing), so what it crafts is built on the real state:
 *
 *   - `edit`: real Yjs updates of an edit made on a copy of what it read, under its own clientID;
 *   - `append`: the next envelope of its own stream (seq and prevHash chain kept valid), its content
 *     as given (mutated updates, broken framing) and optionally damaged after sealing (wrong key
 *     commitment, or a ciphertext that fails AEAD) and signed again with its device key;
 *   - `poisonSnapshot`: a snapshot at the head of the chain (it lists the relay's snapshots and
 *     extends the newest) with another member's content changed under that member's clientID, an
 *     inflated head (seq 4,000,000,000) for an honest stream, or the content left out.
 *
 * Everything it does is reported as a short string for the run's trace. It never throws for what
 * the relay refuses or for a connection that drops (relays restart during a run): it starts a
 * fresh stream after any append whose answer it did not get, as a new session would.
 */
export type PoisonKind = 'foreign-content' | 'inflated-head' | 'omitted-content'
export type Damage = 'commitment' | 'ciphertext'

export interface StoredPoison { readonly seq: number; readonly id: number; readonly kind: PoisonKind }

export interface HostileMember {
  readonly device: Device
  /** Hex of its device key: what an alert's `author` says when it names this member. */
  readonly hex: string
  readonly clientID: number
  /** The space as this member read it. */
  readonly doc: Y.Doc
  /** Poisoned snapshots the relay stored. */
  readonly poisoned: StoredPoison[]
  readonly stats: Record<string, number>
  /** Joins (again) when not connected; false when the relay cannot be reached. */
  connect (url: string): Promise<boolean>
  /** Reads what the relay sent since the last call. */
  sync (): void
  /** Yjs updates of `make` applied to a copy of `doc` under this member's clientID (nothing applied to `doc`). */
  edit (make: (doc: Y.Doc) => unknown): Uint8Array[]
  /** Seals `plaintext` as the next envelope of its stream and appends it; the relay's answer ('ok', an error code, or 'closed'). */
  append (plaintext: Uint8Array, damage?: Damage): Promise<string>
  /** Starts a fresh stream (a new session of the same device). */
  newStream (): void
  poisonSnapshot (kind: PoisonKind): Promise<string>
  close (): void
}

const TIMEOUT_MS = 5000
/** The join (hello, auth) and its catch-up answer with this reqId; live entries come with 0. */
const AUTH_REQ = 1

export function createHostileMember (sodium: Sodium, keys: SpaceKeys, p: Prng): HostileMember {
  const device = memberDevice(sodium, keys)
  const hex = toHex(device.publicKey)
  const clientID = p.int(1, 0x7fffffff)
  const doc = new Y.Doc({ gc: true })
  const poisoned: StoredPoison[] = []
  const stats: Record<string, number> = {}
  const count = (k: string): void => { stats[k] = (stats[k] ?? 0) + 1 }
  /** Stream heads it saw, `authorHex:streamHex` → head (for the snapshots it crafts). */
  const heads = new Map<string, StreamHeadRef>()
  /** Yjs clientID → hex author, as replicas bind them (first writer). */
  const bindings = new Map<number, string>()
  /** Own envelopes already applied to `doc` (own entries come back after a reconnect). */
  const ownApplied = new Set<string>()
  let peer: RawPeer | undefined
  let read = 0
  let lastCursor = 0
  let reqId = 100
  let stream = p.bytes(STREAM_BYTES)
  let seq = 0
  let prev: Uint8Array = GENESIS_HASH

  /** All or nothing, as an honest replica applies (client/core/shadow.ts): on a copy first. */
  const applyAll = (updates: readonly Uint8Array[], v2 = false): boolean => {
    const copy = new Y.Doc({ gc: true })
    try {
      Y.applyUpdateV2(copy, Y.encodeStateAsUpdateV2(doc))
      Y.transact(copy, () => { for (const u of updates) v2 ? Y.applyUpdateV2(copy, u) : Y.applyUpdate(copy, u) })
    } catch {
      return false
    } finally {
      copy.destroy()
    }
    try {
      Y.transact(doc, () => { for (const u of updates) v2 ? Y.applyUpdateV2(doc, u) : Y.applyUpdate(doc, u) })
      return true
    } catch {
      return false
    }
  }

  /** A clientID is written only by the device that wrote it first (client/core/apply.ts checkBindings). */
  const mayWrite = (updates: readonly Uint8Array[], author: string): boolean => {
    try {
      return updates.every(u => [...Y.parseUpdateMeta(u).from.keys()].every(c => (bindings.get(c) ?? author) === author))
    } catch {
      return false
    }
  }

  const bind = (updates: readonly Uint8Array[], author: string): void => {
    for (const u of updates) {
      try {
        for (const c of Y.parseUpdateMeta(u).from.keys()) if (!bindings.has(c)) bindings.set(c, author)
      } catch {}
    }
  }

  const readEntry = (cursor: number, env: Uint8Array): void => {
    lastCursor = Math.max(lastCursor, cursor)
    const parsed = parseEnvelope(env)
    if (!parsed.ok) return
    const h = parsed.value.header
    const author = toHex(h.author)
    const envHash = hash(sodium, env)
    heads.set(author + ':' + toHex(h.stream), { author: h.author.slice(), stream: h.stream.slice(), seq: h.seq, hash: envHash })
    if (author === hex && ownApplied.has(toHex(envHash))) return
    const o = open(sodium, keys, env, { types: [MsgType.update] })
    if (!o.ok) return
    const batch = readBatch(o.value.plaintext)
    if (!batch.ok) return
    if (mayWrite(batch.value, author) && applyAll(batch.value)) bind(batch.value, author)
  }

  const readJoinSnapshot = (env: Uint8Array, covers: number): void => {
    const o = open(sodium, keys, env, { types: [MsgType.snapshot] })
    if (!o.ok) return
    const body = readSnapshotBody(o.value.plaintext)
    if (!body.ok || body.value.parts.length > 0) return
    if (!applyAll([body.value.state], true)) return
    lastCursor = Math.max(lastCursor, covers)
    for (const hd of body.value.heads) {
      const k = toHex(hd.author) + ':' + toHex(hd.stream)
      if ((heads.get(k)?.seq ?? -1) < hd.seq) heads.set(k, hd)
    }
    for (const [c, a] of body.value.bindings) if (!bindings.has(c)) bindings.set(c, toHex(a))
  }

  const sync = (): void => {
    if (peer === undefined) return
    for (; read < peer.frames.length; read++) {
      const f = peer.frames[read]!
      if (f.type === 'snapshots' && f.reqId === AUTH_REQ) for (const s of f.snapshots) readJoinSnapshot(s.envelope, s.covers)
      if (f.type === 'entries' && (f.reqId === AUTH_REQ || f.reqId === 0)) for (const e of f.entries) if (e.cursor > lastCursor) readEntry(e.cursor, e.envelope)
    }
  }

  /** Sends a request and waits for its answer; undefined when the connection dropped or nothing came. */
  const request = async (make: (reqId: number) => Frame): Promise<Frame | undefined> => {
    const pr = peer
    if (pr === undefined || pr.isClosed) return undefined
    const id = reqId++
    pr.send(make(id))
    const deadline = Date.now() + TIMEOUT_MS
    for (;;) {
      const answer = pr.frames.find(f => 'reqId' in f && f.reqId === id && (f.type === 'ok' || f.type === 'error' || f.type === 'snapshots'))
      if (answer !== undefined) return answer
      if (pr.isClosed || Date.now() > deadline) return undefined
      await new Promise(resolve => setTimeout(resolve, 2))
    }
  }

  const member: HostileMember = {
    device, hex, clientID, doc, poisoned, stats,

    async connect (url) {
      if (peer !== undefined && !peer.isClosed) return true
      sync()
      peer?.close()
      peer = undefined
      read = 0
      try {
        const pr = await rawPeer(url)
        peer = pr
        // From where it read up to: a cursor below what the relay pruned brings a snapshot first.
        await joinAs(sodium, pr, keys, lastCursor)
      } catch {
        peer?.close()
        peer = undefined
        return false
      }
      // A new connection is a new session: a fresh stream, so nothing it sealed before is re-sealed.
      member.newStream()
      sync()
      return true
    },

    sync,

    edit (make) {
      sync()
      const copy = new Y.Doc({ gc: true })
      try {
        Y.applyUpdateV2(copy, Y.encodeStateAsUpdateV2(doc))
      } catch {
        // Its own doc holds what its mutants left there (its state may not load again): no edit.
        copy.destroy()
        return []
      }
      // Set after loading: Yjs gives a doc a new clientID when a remote update carries its own.
      copy.clientID = clientID
      const out: Uint8Array[] = []
      copy.on('update', (u: Uint8Array) => { out.push(u) })
      try {
        make(copy)
      } catch {}
      copy.destroy()
      return out
    },

    async append (plaintext, damage) {
      sync()
      let env = seal(sodium, keys, device, MsgType.update, { stream, seq, prevHash: prev }, plaintext)
      if (damage !== undefined) env = resigned(sodium, device, env, damage)
      const answer = await request(id => ({ type: 'append', reqId: id, spaceId: keys.spaceId, envelope: env }))
      if (answer === undefined) {
        count('unanswered')
        member.newStream()
        return 'closed'
      }
      if (answer.type !== 'ok') {
        count(`refused ${answer.type === 'error' ? answer.code : answer.type}`)
        member.newStream()
        return answer.type === 'error' ? answer.code : answer.type
      }
      seq++
      prev = hash(sodium, env)
      heads.set(hex + ':' + toHex(stream), { author: device.publicKey, stream: stream.slice(), seq: seq - 1, hash: prev })
      ownApplied.add(toHex(prev))
      // What every honest replica does with it: this member's view stays theirs.
      const batch = damage === undefined ? readBatch(plaintext) : undefined
      const updates = batch?.ok === true ? batch.value : undefined
      if (updates !== undefined && mayWrite(updates, hex) && applyAll(updates)) {
        bind(updates, hex)
        count('appended (integrates)')
      } else {
        count(damage === undefined ? 'appended (refused)' : `appended (bad ${damage})`)
      }
      return 'ok'
    },

    newStream () {
      stream = p.bytes(STREAM_BYTES)
      seq = 0
      prev = GENESIS_HASH
    },

    async poisonSnapshot (kind) {
      sync()
      const list = await request(id => ({ type: 'listSnapshots', reqId: id, spaceId: keys.spaceId, limit: 1 }))
      if (list === undefined) return 'closed'
      if (list.type !== 'snapshots') return list.type === 'error' ? list.code : list.type
      const newest = list.snapshots[0]
      let chainSeq = 0
      let chainPrev: Uint8Array = GENESIS_HASH
      if (newest !== undefined) {
        const ph = parseEnvelope(newest.envelope)
        if (!ph.ok) return ph.code
        chainSeq = ph.value.header.seq + 1
        chainPrev = hash(sodium, newest.envelope)
      }
      const honestStreams = [...heads.values()].filter(hd => toHex(hd.author) !== hex && hd.hash.length > 0)
      let state = Y.encodeStateAsUpdateV2(doc)
      let claims = [...heads.values()]
      let made: PoisonKind = kind
      if (made === 'foreign-content') {
        const evil = foreignContent(doc, c => { const a = bindings.get(c); return a !== undefined && a !== hex }, p)
        if (evil === undefined) made = 'inflated-head'
        else state = evil
      }
      if (made === 'inflated-head') {
        if (honestStreams.length === 0) made = 'omitted-content'
        else {
          const victim = p.pick(honestStreams)
          claims = claims.map(hd => hd === victim ? { ...hd, seq: 4_000_000_000, hash: sodium.randombytes_buf(32) } : hd)
        }
      }
      if (made === 'omitted-content') state = Y.encodeStateAsUpdateV2(new Y.Doc())
      const body = writeSnapshotBody({
        createdAt: Date.now(),
        covers: lastCursor,
        heads: claims,
        bindings: [...bindings].map(([c, a]) => [c, fromHexStrict(a)] as const),
        parts: [],
        state
      })
      const envelope = seal(sodium, keys, device, MsgType.snapshot, { stream: SNAPSHOT_STREAM, seq: chainSeq, prevHash: chainPrev }, body)
      const answer = await request(id => ({ type: 'putSnapshot', reqId: id, spaceId: keys.spaceId, covers: lastCursor, envelope, parts: [] }))
      if (answer === undefined) return `${made}: closed`
      if (answer.type !== 'ok') return `${made}: ${answer.type === 'error' ? answer.code : answer.type}`
      poisoned.push({ seq: chainSeq, id: answer.cursor, kind: made })
      count(`snapshot ${made}`)
      return `${made}: stored as #${chainSeq} (id ${answer.cursor}, covers ${lastCursor})`
    },

    close () {
      peer?.close()
      peer = undefined
    }
  }
  return member
}

/** hello → challenge → auth(after) → ok, then the end of catch-up; every frame of the join uses reqId AUTH_REQ. */
async function joinAs (sodium: Sodium, pr: RawPeer, keys: SpaceKeys, after: number): Promise<void> {
  pr.send({ type: 'hello', reqId: AUTH_REQ, spaceId: keys.spaceId })
  const ch = await pr.next('challenge', f => f.reqId === AUTH_REQ, TIMEOUT_MS)
  pr.send({ type: 'auth', reqId: AUTH_REQ, spaceId: keys.spaceId, signature: sodium.crypto_sign_detached(authMessage(keys.spaceId, ch.challenge), keys.access.privateKey), after })
  await pr.next('ok', f => f.reqId === AUTH_REQ, TIMEOUT_MS)
  await pr.next('entries', f => f.reqId === AUTH_REQ && f.entries.length === 0 && !f.more, TIMEOUT_MS)
}

const fromHexStrict = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'))

/** Alters a sealed envelope and signs it again with the author's key: a valid signature over content nobody can open. */
function resigned (sodium: Sodium, device: Device, env: Uint8Array, what: Damage): Uint8Array {
  const p = parseEnvelope(env)
  if (!p.ok) throw new Error(p.message)
  let header = p.value.header
  const ct = p.value.ciphertext.slice()
  if (what === 'commitment') {
    const c = header.commitment.slice()
    c[0] = c[0]! ^ 0x01
    header = { ...header, commitment: c }
  } else {
    const at = Math.floor(ct.length / 2)
    ct[at] = ct[at]! ^ 0x01
  }
  const headerBytes = writeHeader(header)
  return concat(headerBytes, ct, sodium.crypto_sign_detached(envelopeMessage(sodium, headerBytes, ct), device.privateKey))
}

/**
 * The state of `doc` with the characters of one string another member wrote changed in place:
 * same structs, same clientID and clocks, other text (issue 7 item 3: "helloEVIL!d"). V2, or
 * undefined when no such string can be found and changed.
 */
function foreignContent (doc: Y.Doc, isHonest: (client: number) => boolean, p: Prng): Uint8Array | undefined {
  const v1 = Y.encodeStateAsUpdate(doc)
  const strings: string[] = []
  for (const s of Y.decodeUpdate(v1).structs) {
    if (!(s instanceof Y.Item) || !(s.content instanceof Y.ContentString) || !isHonest(s.id.client)) continue
    const str = s.content.str
    if (str.length >= 2 && str.length < 64 && /^[a-zA-Z0-9 .,-]+$/.test(str)) strings.push(str)
  }
  const bytes = Buffer.from(v1)
  for (let tries = 0; tries < 4 && strings.length > 0; tries++) {
    const str = p.pick(strings)
    // A varString: its length, then its bytes (ASCII here, so one byte per character).
    const needle = Buffer.concat([Buffer.from([str.length]), Buffer.from(str)])
    const at = bytes.indexOf(needle)
    if (at < 0 || bytes.indexOf(needle, at + 1) >= 0) continue
    const evil = Buffer.from(bytes)
    const swap = (ch: string): string => ch === 'E' ? 'V' : 'E'
    evil.write([...str].map((ch, i) => i % 2 === 0 ? swap(ch) : ch).join(''), at + 1, 'latin1')
    const d = new Y.Doc()
    try {
      Y.applyUpdate(d, new Uint8Array(evil))
      const sameClocks = Buffer.from(Y.encodeStateVector(d)).equals(Buffer.from(Y.encodeStateVector(doc)))
      if (sameClocks && JSON.stringify(d.getArray('items').toJSON()) + d.getText('title').toString() + JSON.stringify(d.getMap('kv').toJSON()) !==
        JSON.stringify(doc.getArray('items').toJSON()) + doc.getText('title').toString() + JSON.stringify(doc.getMap('kv').toJSON())) {
        return Y.encodeStateAsUpdateV2(d)
      }
    } catch {
    } finally {
      d.destroy()
    }
  }
  return undefined
}

/** Byte mutations of one Yjs update (as the mutation fuzzer makes them): some integrate, some throw half-way. */
export function mutateUpdate (p: Prng, u: Uint8Array): { bytes: Uint8Array; how: string } {
  let b = Array.from(u)
  const hows: string[] = []
  for (let k = p.int(1, 3); k > 0; k--) {
    const at = p.int(0, Math.max(0, b.length - 1))
    switch (p.int(0, 7)) {
      case 0: b[at] = (b[at] ?? 0) ^ (1 << p.int(0, 7)); hows.push(`flip@${at}`); break
      case 1: b[at] = p.pick([0, 1, 2, 0x7f, 0x80, 0xff]); hows.push(`set@${at}`); break
      case 2: b[at] = p.int(0, 255); hows.push(`rand@${at}`); break
      case 3: b[at] = ((b[at] ?? 0) + (p.bool() ? 1 : 255)) & 0xff; hows.push(`inc@${at}`); break
      case 4: { const n = p.int(1, 3); b.splice(at, 0, ...p.bytes(n)); hows.push(`insert${n}@${at}`); break }
      case 5: { const n = p.int(1, 3); b.splice(at, n); hows.push(`delete${n}@${at}`); break }
      case 6: b = b.slice(0, at); hows.push(`truncate@${at}`); break
      default: {
        const other = p.int(0, Math.max(0, b.length - 1))
        const x = b[at]; b[at] = b[other] ?? 0; b[other] = x ?? 0; hows.push(`swap@${at},${other}`)
      }
    }
  }
  return { bytes: Uint8Array.from(b), how: hows.join(' ') }
}

/** A batch (PROTOCOL.md) of `updates` with one of them byte-mutated, or (sometimes) broken framing. */
export function mutatedBatch (p: Prng, updates: readonly Uint8Array[]): { plaintext: Uint8Array; how: string } {
  const i = p.int(0, updates.length - 1)
  const m = mutateUpdate(p, updates[i]!)
  const list = updates.slice()
  list[i] = m.bytes
  if (p.bool(0.85)) return { plaintext: writeBatch(list), how: `update ${i}/${updates.length}: ${m.how}` }
  const e = encoding.createEncoder()
  if (p.bool()) {
    encoding.writeUint8Array(e, writeBatch(updates))
    encoding.writeUint8Array(e, p.bytes(p.int(1, 3)))
    return { plaintext: encoding.toUint8Array(e), how: 'trailing bytes' }
  }
  encoding.writeVarUint(e, updates.length + 1)
  for (const u of updates) encoding.writeVarUint8Array(e, u)
  return { plaintext: encoding.toUint8Array(e), how: 'count one too high' }
}
