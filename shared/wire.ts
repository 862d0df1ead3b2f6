import * as encoding from 'lib0/encoding'
import { equalBytes, Reader, writeU32 } from './bytes.js'
import { DecodeError, err, ok, type Result } from './errors.js'
import * as frame from './frame.js'
import type { Entry, Frame, FrameErrorCode } from './frame.js'
import {
  COMMIT_BYTES, HASH_BYTES, HEADER_BYTES, KEY_ID_BYTES, MAX_ENVELOPE_BYTES, NONCE_BYTES, parseEnvelope, PK_BYTES, SIG_BYTES,
  SPACE_ID_BYTES, STREAM_BYTES
} from './header.js'

/**
 * Compact frames (issue 10; PROTOCOL.md "Compact frames"): the same logical frames as frame.ts,
 * with each envelope's header cut down to what the receiver cannot already know.
 *
 * Per connection and per direction, a stream table: the first compact envelope of a stream
 * (version, type, spaceId, epoch, keyId, author, stream, cert) defines a small ref inline; later
 * ones carry only the ref, the seq, prevHash and commitment when the receiver cannot derive them
 * from the stream's last envelope on this connection, nonce, ciphertext and signature. The
 * receiver rebuilds the full envelope byte for byte before anything else looks at it, so what is
 * hashed, signed, stored and opened is unchanged and every check of today runs on the rebuilt
 * bytes: a sender that lies here (a wrong ref, a wrong prevHash mode, a seq or commitment said to
 * follow that does not) produces an envelope whose signature or chain does not hold.
 *
 * Both tables change only once a whole frame has been written or read (a `Txn`), so a frame that
 * fails halfway leaves no state; after any failure the connection is closed anyway, and a new
 * connection starts with empty tables.
 */

/** Frame types of the compact frames; they share frame.ts's numbering space (no overlap). */
export const WireType = {
  appendC: 16,
  presenceC: 17,
  entriesC: 30,
  presenceOutC: 31
} as const

/** `hello.caps` / `challenge.caps` bit: this side reads compact frames. */
export const CAP_COMPACT = 1
/** `caps` bit: this side also reads a seq and a commitment left out when they follow from the last envelope. */
export const CAP_DERIVE = 2
/** The caps this code reads, sent in every hello (client) and in answer to a hello with caps (relay). */
export const CAPS = CAP_COMPACT | CAP_DERIVE

/** Refs per table (per connection and direction): a peer cannot make the other side hold more. */
export const MAX_REFS = 4096

/** prevHash modes, the low two bits of a compact envelope's flags. */
const PREV_DERIVED = 0
const PREV_EXPLICIT = 1
const PREV_ZERO = 2
/** Flag bit: the ref's definition follows (the first use of a stream on this connection). */
const HAS_DEF = 4
/** Flag bit (CAP_DERIVE): the commitment is the last one of this ref on this connection, not written. */
const SAME_COMMIT = 8
/** Flag bit (CAP_DERIVE): seq is the last one of this ref on this connection plus one, not written. */
const NEXT_SEQ = 16
const FLAG_BITS = 3 | HAS_DEF | SAME_COMMIT | NEXT_SEQ

/** entriesC flags: more pages follow; the head is written (else it equals the last entry's cursor). */
const MORE = 1
const HAS_HEAD = 2

const MAX_CT_BYTES = MAX_ENVELOPE_BYTES - HEADER_BYTES - SIG_BYTES
const ZERO_HASH = new Uint8Array(HASH_BYTES)

export type WireErrorCode =
  | 'wire/unknown-ref'
  | 'wire/bad-ref'
  | 'wire/ref-conflict'
  | 'wire/too-many-refs'
  | 'wire/bad-flag'
  | 'wire/cannot-derive'
  | 'wire/mixed-spaces'

/**
 * Where the fields sit in a header (header.ts): a ref's definition is the header without seq,
 * prevHash, nonce and commitment, i.e. bytes [0, STREAM_END) and the certificate, in that order.
 */
const STREAM_END = 1 + 1 + SPACE_ID_BYTES + 4 + KEY_ID_BYTES + PK_BYTES + STREAM_BYTES
const SEQ_AT = STREAM_END
const PREV_AT = SEQ_AT + 4
const NONCE_AT = PREV_AT + HASH_BYTES
const CERT_AT = NONCE_AT + NONCE_BYTES + COMMIT_BYTES
/** Where varBytes(ciphertext) starts in a prepared tail (after nonce and commitment). */
const TAIL_REST = NONCE_BYTES + COMMIT_BYTES
/** version, type, spaceId, epoch, keyId, author, stream, cert: 134 bytes. */
export const DEF_BYTES = STREAM_END + SIG_BYTES

/** A definition as a map key: one char per byte (134 chars; hex would be twice that). */
const keyOf = (def: Uint8Array): string => String.fromCharCode.apply(null, def as unknown as number[])

/** One ref: its definition, and the last envelope of it that went through this table (seq, hash, commitment). */
interface Ref {
  readonly def: Uint8Array
  readonly key: string
  readonly seq: number
  readonly hash: Uint8Array | undefined
  readonly commitment: Uint8Array | undefined
}

/** One direction's stream table. */
export interface Table {
  readonly refs: Ref[]
  readonly byKey: Map<string, number>
}

/**
 * Both tables of a new session until the first ref: made with it (Txn.commit), so an idle
 * connection holds no tables (issue 10: memory per connection). Frozen: writing to it is a bug.
 */
const NO_REFS: Table = Object.freeze({ refs: Object.freeze([]) as unknown as Ref[], byKey: new Map() })

/**
 * What every connection's compact form of one envelope shares, worked out once per envelope: the
 * relay sends one live entry to each compact reader of its space, and only the ref, the flags and
 * whether prevHash can be derived differ between them.
 */
interface Prepared {
  readonly def: Uint8Array
  readonly key: string
  readonly spaceId: Uint8Array
  readonly seq: number
  readonly prevHash: Uint8Array
  readonly zeroPrev: boolean
  readonly commitment: Uint8Array
  /** nonce • commitment • varBytes(ciphertext) • signature, as written: split at NONCE_BYTES and TAIL_REST. */
  readonly tail: Uint8Array
  readonly hash: Uint8Array
}

/** Shared by the sessions of one process (the relay's connections); keyed by envelopes never changed after they are made. */
export type PrepareCache = WeakMap<Uint8Array, Prepared | null>

export function createPrepareCache (): PrepareCache {
  return new WeakMap()
}

/** What one side keeps for one connection. A reconnect starts a new one. */
export interface WireSession {
  /** Refs the peer defined (what we read). */
  in: Table
  /** Refs we defined (what we write). */
  out: Table
  /** The peer said it reads compact frames: only then are they written. */
  peerCompact: boolean
  /** The peer said it reads a derived seq and commitment (CAP_DERIVE): only then are they left out. */
  peerDerive: boolean
  /** BLAKE2b-256 of a whole envelope (sign.ts `hash`), for deriving prevHash. */
  readonly hash: (env: Uint8Array) => Uint8Array
  readonly cache: PrepareCache | undefined
}

export function createSession (hash: (env: Uint8Array) => Uint8Array, cache?: PrepareCache): WireSession {
  return { in: NO_REFS, out: NO_REFS, peerCompact: false, peerDerive: false, hash, cache }
}

export function isCompactType (t: number): boolean {
  return t === WireType.appendC || t === WireType.presenceC || t === WireType.entriesC || t === WireType.presenceOutC
}

/** Staged changes to a table, applied only when the whole frame went through. */
class Txn {
  // Made on first use: most frames change one ref or none, and one Txn is made per frame.
  private changed: Map<number, Ref> | undefined
  private added: Map<string, number> | undefined
  private size: number

  private readonly t: Table

  constructor (private readonly s: WireSession, private readonly dir: 'in' | 'out') {
    this.t = s[dir]
    this.size = this.t.refs.length
  }

  get count (): number { return this.size }
  get (i: number): Ref | undefined { return this.changed?.get(i) ?? this.t.refs[i] }
  find (key: string): number | undefined { return this.added?.get(key) ?? this.t.byKey.get(key) }

  define (def: Uint8Array, key: string): number {
    const i = this.size++
    ;(this.added ??= new Map()).set(key, i)
    ;(this.changed ??= new Map()).set(i, { def, key, seq: -1, hash: undefined, commitment: undefined })
    return i
  }

  /** `commitment` may be a view into a frame: it is copied unless it equals the ref's (as it does under one key). */
  moved (i: number, seq: number, hash: Uint8Array, commitment: Uint8Array): void {
    const r = this.get(i)
    if (r === undefined) throw new Error(`ref ${i} is not in the table`)
    const same = r.commitment !== undefined && equalBytes(r.commitment, commitment)
    ;(this.changed ??= new Map()).set(i, { ...r, seq, hash, commitment: same ? r.commitment : commitment.slice() })
  }

  commit (): void {
    if (this.changed === undefined) return
    let t = this.t
    if (t === NO_REFS) this.s[this.dir] = t = { refs: [], byKey: new Map() }
    for (const [i, r] of this.changed) t.refs[i] = r
    if (this.added !== undefined) for (const [k, i] of this.added) t.byKey.set(k, i)
  }
}

// ---- writing ----------------------------------------------------------------------------------

function prepare (s: WireSession, env: Uint8Array): Prepared | undefined {
  const had = s.cache?.get(env)
  if (had !== undefined) return had ?? undefined
  const p = parseEnvelope(env)
  let out: Prepared | null = null
  if (p.ok) {
    const def = new Uint8Array(DEF_BYTES)
    def.set(env.subarray(0, STREAM_END), 0)
    def.set(env.subarray(CERT_AT, HEADER_BYTES), STREAM_END)
    const e = encoding.createEncoder()
    encoding.writeUint8Array(e, env.subarray(NONCE_AT, CERT_AT))
    encoding.writeVarUint8Array(e, p.value.ciphertext)
    encoding.writeUint8Array(e, p.value.signature)
    const prevHash = p.value.header.prevHash
    const tail = encoding.toUint8Array(e)
    out = {
      def, key: keyOf(def), spaceId: p.value.header.spaceId, seq: p.value.header.seq, prevHash,
      zeroPrev: equalBytes(prevHash, ZERO_HASH), commitment: tail.subarray(NONCE_BYTES, TAIL_REST), tail, hash: s.hash(env)
    }
  }
  s.cache?.set(env, out)
  return out ?? undefined
}

/**
 * Writes one envelope compactly; false when it cannot be (it does not parse, it is of another
 * space than the frame, or the table is full and its stream has no ref): the caller then writes
 * the whole frame in the old form.
 */
function writeCenv (e: encoding.Encoder, s: WireSession, txn: Txn, env: Uint8Array, spaceId: Uint8Array): boolean {
  const p = prepare(s, env)
  // The space is implied by the ref: only envelopes of the frame's own space are written compactly.
  if (p === undefined || !equalBytes(p.spaceId, spaceId)) return false
  let i = txn.find(p.key)
  const define = i === undefined
  if (i === undefined) {
    if (txn.count >= MAX_REFS) return false
    i = txn.define(p.def, p.key)
  }
  const r = txn.get(i)!
  // Derived only when the receiver holds the same last envelope: the one we sent just before.
  const follows = r.hash !== undefined && p.seq === r.seq + 1
  const mode = follows && equalBytes(p.prevHash, r.hash!)
    ? PREV_DERIVED
    : p.zeroPrev ? PREV_ZERO : PREV_EXPLICIT
  const nextSeq = s.peerDerive && follows
  const sameCommit = s.peerDerive && r.commitment !== undefined && equalBytes(p.commitment, r.commitment)
  encoding.writeVarUint(e, i)
  encoding.writeUint8(e, mode | (define ? HAS_DEF : 0) | (nextSeq ? NEXT_SEQ : 0) | (sameCommit ? SAME_COMMIT : 0))
  if (define) encoding.writeUint8Array(e, p.def)
  if (!nextSeq) encoding.writeVarUint(e, p.seq)
  if (mode === PREV_EXPLICIT) encoding.writeUint8Array(e, p.prevHash)
  if (sameCommit) {
    encoding.writeUint8Array(e, p.tail.subarray(0, NONCE_BYTES))
    encoding.writeUint8Array(e, p.tail.subarray(TAIL_REST))
  } else {
    encoding.writeUint8Array(e, p.tail)
  }
  txn.moved(i, p.seq, p.hash, p.commitment)
  return true
}

/** The compact form of `f`, or undefined when `f` has none or one of its envelopes cannot be. */
function writeCompact (s: WireSession, f: Frame): Uint8Array | undefined {
  const txn = new Txn(s, 'out')
  const e = encoding.createEncoder()
  const fits = (env: Uint8Array): boolean => writeCenv(e, s, txn, env, f.spaceId)
  switch (f.type) {
    case 'append':
      encoding.writeVarUint(e, WireType.appendC); encoding.writeVarUint(e, f.reqId)
      if (!fits(f.envelope)) return undefined
      break
    case 'presence':
    case 'presenceOut':
      encoding.writeVarUint(e, f.type === 'presence' ? WireType.presenceC : WireType.presenceOutC)
      if (!fits(f.envelope)) return undefined
      break
    case 'entries': {
      const last = f.entries[f.entries.length - 1]
      if (last === undefined) return undefined
      encoding.writeVarUint(e, WireType.entriesC); encoding.writeVarUint(e, f.reqId)
      encoding.writeVarUint(e, f.entries.length)
      for (const x of f.entries) {
        encoding.writeVarUint(e, x.cursor)
        if (!fits(x.envelope)) return undefined
      }
      const explicitHead = f.head !== last.cursor
      encoding.writeUint8(e, (f.more ? MORE : 0) | (explicitHead ? HAS_HEAD : 0))
      if (explicitHead) encoding.writeVarUint(e, f.head)
      break
    }
    default: return undefined
  }
  txn.commit()
  return encoding.toUint8Array(e)
}

/**
 * The bytes to send `f` on this connection: compact when the peer reads compact frames and `f` has
 * a compact form, else frame.ts's form (`legacy`, when the caller already wrote it for many peers).
 */
export function writeWire (s: WireSession, f: Frame, legacy?: Uint8Array): Uint8Array {
  if (s.peerCompact) {
    const c = writeCompact(s, f)
    if (c !== undefined) return c
  }
  return legacy ?? frame.writeFrame(f)
}

// ---- reading ----------------------------------------------------------------------------------

const fail = (code: WireErrorCode, message: string): never => { throw new DecodeError(code, message) }

/** Reads one compact envelope and rebuilds the full one; returns it with its space id. */
function readCenv (r: Reader, txn: Txn, hash: (env: Uint8Array) => Uint8Array): { spaceId: Uint8Array; envelope: Uint8Array } {
  const i = r.varUint()
  const flags = r.u8()
  const mode = flags & 3
  if ((flags & ~FLAG_BITS) !== 0 || mode === 3) fail('wire/bad-flag', `bad envelope flags ${flags}`)
  if ((flags & HAS_DEF) !== 0) {
    const def = r.bytes(DEF_BYTES)
    const key = keyOf(def)
    if (i < txn.count) {
      // A stream has one ref per connection and direction; a ref never changes what it stands for.
      if (txn.get(i)?.key !== key) fail('wire/ref-conflict', `ref ${i} defined again with other values`)
    } else if (i !== txn.count) {
      fail('wire/bad-ref', `ref ${i} defined before ref ${txn.count}`)
    } else if (i >= MAX_REFS) {
      fail('wire/too-many-refs', `more than ${MAX_REFS} streams on one connection`)
    } else if (txn.find(key) !== undefined) {
      fail('wire/ref-conflict', `ref ${i} names a stream that has ref ${txn.find(key)!}`)
    } else {
      txn.define(def.slice(), key)
    }
  } else if (i >= txn.count) {
    fail('wire/unknown-ref', `ref ${i} was never defined on this connection`)
  }
  const ref = txn.get(i)!
  let seq: number
  if ((flags & NEXT_SEQ) === 0) seq = r.varUint(0xffffffff)
  else if (ref.hash === undefined || ref.seq >= 0xffffffff) seq = fail('wire/cannot-derive', `ref ${i} has no envelope on this connection for seq to follow`)
  else seq = ref.seq + 1
  let prevHash: Uint8Array
  if (mode === PREV_EXPLICIT) prevHash = r.bytes(HASH_BYTES)
  else if (mode === PREV_ZERO) prevHash = ZERO_HASH
  else {
    if (ref.hash === undefined || seq !== ref.seq + 1) fail('wire/cannot-derive', `seq ${seq} of ref ${i} does not follow ${ref.seq} received on this connection`)
    prevHash = ref.hash!
  }
  const nonce = r.bytes(NONCE_BYTES)
  let commitment: Uint8Array
  if ((flags & SAME_COMMIT) === 0) commitment = r.bytes(COMMIT_BYTES)
  else if (ref.commitment === undefined) commitment = fail('wire/cannot-derive', `ref ${i} has no commitment on this connection to repeat`)
  else commitment = ref.commitment
  const ct = r.varBytes(MAX_CT_BYTES)
  const sig = r.bytes(SIG_BYTES)
  // The header as header.ts lays it out, then ciphertext and signature: the envelope as sealed.
  const env = new Uint8Array(HEADER_BYTES + ct.length + SIG_BYTES)
  env.set(ref.def.subarray(0, STREAM_END), 0)
  writeU32(env, SEQ_AT, seq)
  env.set(prevHash, PREV_AT)
  env.set(nonce, NONCE_AT)
  env.set(commitment, NONCE_AT + NONCE_BYTES)
  env.set(ref.def.subarray(STREAM_END), CERT_AT)
  env.set(ct, HEADER_BYTES)
  env.set(sig, HEADER_BYTES + ct.length)
  txn.moved(i, seq, hash(env), commitment)
  return { spaceId: ref.def.slice(2, 2 + SPACE_ID_BYTES), envelope: env }
}

function readCompact (s: WireSession, t: number, r: Reader): Frame {
  const txn = new Txn(s, 'in')
  let f: Frame
  switch (t) {
    case WireType.appendC: {
      const reqId = r.varUint(0xffffffff)
      const c = readCenv(r, txn, s.hash)
      f = { type: 'append', reqId, spaceId: c.spaceId, envelope: c.envelope }
      break
    }
    case WireType.presenceC:
    case WireType.presenceOutC: {
      const c = readCenv(r, txn, s.hash)
      f = { type: t === WireType.presenceC ? 'presence' : 'presenceOut', spaceId: c.spaceId, envelope: c.envelope }
      break
    }
    default: {
      const reqId = r.varUint(0xffffffff)
      const n = r.varUint(frame.MAX_ENTRIES_PER_FRAME)
      if (n === 0) throw new DecodeError('frame/bad-field', 'a compact entries frame holds at least one entry')
      const entries: Entry[] = []
      let spaceId: Uint8Array | undefined
      for (let k = 0; k < n; k++) {
        const cursor = r.varUint()
        const c = readCenv(r, txn, s.hash)
        if (spaceId !== undefined && !equalBytes(spaceId, c.spaceId)) fail('wire/mixed-spaces', 'entries of one frame name different spaces')
        spaceId = c.spaceId
        entries.push({ cursor, envelope: c.envelope })
      }
      const flags = r.u8()
      if ((flags & ~(MORE | HAS_HEAD)) !== 0) fail('wire/bad-flag', `bad entries flags ${flags}`)
      const head = (flags & HAS_HEAD) !== 0 ? r.varUint() : entries[entries.length - 1]!.cursor
      f = { type: 'entries', reqId, spaceId: spaceId!, entries, head, more: (flags & MORE) !== 0 }
    }
  }
  r.end()
  txn.commit()
  return f
}

/**
 * Parses one frame of either form. A `hello`, `challenge` or `welcome` that says the peer reads
 * compact frames turns on writing them to it.
 */
export function readWire (s: WireSession, bytes: Uint8Array): Result<Frame, FrameErrorCode | WireErrorCode> {
  if (bytes.length > frame.MAX_FRAME_BYTES) return err('frame/too-large', `frame of ${bytes.length} bytes`)
  const t = bytes[0]
  if (t === undefined || !isCompactType(t)) {
    const f = frame.readFrame(bytes)
    if (f.ok && (f.value.type === 'hello' || f.value.type === 'challenge' || f.value.type === 'welcome')) {
      const caps = f.value.caps ?? 0
      if ((caps & CAP_COMPACT) !== 0) s.peerCompact = true
      if ((caps & CAP_COMPACT) !== 0 && (caps & CAP_DERIVE) !== 0) s.peerDerive = true
    }
    return f
  }
  try {
    const r = new Reader(bytes)
    r.u8()
    return ok(readCompact(s, t, r))
  } catch (e) {
    if (e instanceof DecodeError) return err(e.code as FrameErrorCode | WireErrorCode, e.message)
    throw e
  }
}
