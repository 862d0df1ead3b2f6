import * as encoding from 'lib0/encoding'
import { Reader } from './bytes.js'
import { DecodeError, err, ok, type Result } from './errors.js'
import { HASH_BYTES, MAX_ENVELOPE_BYTES, PK_BYTES, SIG_BYTES, SPACE_ID_BYTES, STREAM_BYTES } from './header.js'

/**
 * Frames between a client and the relay (PROTOCOL.md §Frames). One WebSocket carries many spaces:
 * every frame names its space. One dispatcher, `writeFrame` / `readFrame`; reading is bounded
 * (every length checked against the bytes left and a cap) and returns an error value, never throws.
 */
export const FrameType = {
  create: 1,
  hello: 2,
  auth: 3,
  append: 4,
  fetch: 5,
  fetchStream: 6,
  leave: 7,
  presence: 8,
  putSnapshot: 9,
  listSnapshots: 10,
  attest: 11,
  putSnapshotPart: 12,
  getSnapshotPart: 13,
  receipt: 14,
  rotate: 15,
  welcome: 19,
  challenge: 20,
  ok: 21,
  entries: 22,
  error: 23,
  presenceOut: 24,
  peerLeft: 25,
  snapshots: 26,
  snapshotPart: 27,
  receipts: 28,
  keyChanges: 29
  // 16, 17, 30 and 31 are the compact frames of wire.ts.
} as const

/** Key changes in one `keyChanges` frame: every epoch after the one a stale client holds. */
export const MAX_KEY_CHANGES_PER_FRAME = 64

/** Receipts in one `receipts` frame: the newest of each device of a space. */
export const MAX_RECEIPTS_PER_FRAME = 1024

export const MAX_ENTRIES_PER_FRAME = 4096
export const MAX_FRAME_BYTES = MAX_ENVELOPE_BYTES + 64 * 1024
const MAX_CODE = 64
const MAX_MESSAGE = 1024
const CHALLENGE_BYTES = 32

export interface Entry { readonly cursor: number; readonly envelope: Uint8Array }
/**
 * A stored snapshot as the relay hands it out: its store id, the log cursor it covers, whether a
 * member other than its author attested it (clients prefer those: an unattested one may be
 * poisoned), and the sealed head envelope (which names its parts, if any, inside the ciphertext).
 */
export interface SnapshotEntry { readonly id: number; readonly covers: number; readonly attested: boolean; readonly envelope: Uint8Array }
export const MAX_SNAPSHOTS_PER_FRAME = 64
/**
 * Parts one snapshot may have. 1024 hashes (33 KiB on the wire) fit a putSnapshot frame next to a
 * full-size head envelope, and at the client's 4 MiB chunks this is far beyond what the relay's
 * per-space quota on pending parts lets anyone upload anyway.
 */
export const MAX_SNAPSHOT_PARTS = 1024

export type Frame =
  /**
   * Registers a space; `accessSig` and `writeSig` sign create-proof.ts's `createMessage` with this
   * connection's challenge for the space (from `hello`), so only an editor can create.
   */
  | { type: 'create'; reqId: number; spaceId: Uint8Array; accessPk: Uint8Array; writePk: Uint8Array; accessSig: Uint8Array; writeSig: Uint8Array }
  /** `caps`: what this client reads beyond this file's frames (wire.ts CAP_COMPACT); absent from older clients. */
  | { type: 'hello'; reqId: number; spaceId: Uint8Array; caps?: number }
  | { type: 'auth'; reqId: number; spaceId: Uint8Array; signature: Uint8Array; after: number }
  | { type: 'append'; reqId: number; spaceId: Uint8Array; envelope: Uint8Array }
  | { type: 'fetch'; reqId: number; spaceId: Uint8Array; after: number; limit: number }
  | { type: 'fetchStream'; reqId: number; spaceId: Uint8Array; author: Uint8Array; stream: Uint8Array; fromSeq: number; limit: number }
  | { type: 'leave'; spaceId: Uint8Array }
  | { type: 'presence'; spaceId: Uint8Array; envelope: Uint8Array }
  /** `parts`: BLAKE2b-256 hashes of part envelopes already uploaded with putSnapshotPart, in order; empty for a one-envelope snapshot. */
  | { type: 'putSnapshot'; reqId: number; spaceId: Uint8Array; covers: number; envelope: Uint8Array; parts: Uint8Array[] }
  | { type: 'listSnapshots'; reqId: number; spaceId: Uint8Array; limit: number }
  /** A member's device vouches for a snapshot it verified; `cert` is its write certificate, `signature` over sign.attestMessage. */
  | { type: 'attest'; reqId: number; spaceId: Uint8Array; snapshotHash: Uint8Array; device: Uint8Array; cert: Uint8Array; signature: Uint8Array }
  | { type: 'putSnapshotPart'; reqId: number; spaceId: Uint8Array; envelope: Uint8Array }
  | { type: 'getSnapshotPart'; reqId: number; spaceId: Uint8Array; hash: Uint8Array }
  | { type: 'snapshotPart'; reqId: number; spaceId: Uint8Array; envelope: Uint8Array }
  | { type: 'snapshots'; reqId: number; spaceId: Uint8Array; snapshots: SnapshotEntry[] }
  | { type: 'receipt'; reqId: number; spaceId: Uint8Array; envelope: Uint8Array }
  | { type: 'receipts'; reqId: number; spaceId: Uint8Array; envelopes: Uint8Array[] }
  /**
   * Moves the space to `epoch` (issue 11): its new public keys, `signature` by the current write
   * key over rotate-proof.ts's `rotateMessage`, and the key change envelope (type 7) it binds.
   */
  | { type: 'rotate'; reqId: number; spaceId: Uint8Array; epoch: number; accessPk: Uint8Array; writePk: Uint8Array; signature: Uint8Array; keyChange: Uint8Array }
  /** The key changes after a client's epoch, oldest first: pushed on a rotation, and answered to an old epoch's `auth`. */
  | { type: 'keyChanges'; reqId: number; spaceId: Uint8Array; envelopes: Uint8Array[] }
  /** `caps`: what the relay reads beyond this file's frames; sent only in answer to a hello with caps. */
  | { type: 'challenge'; reqId: number; spaceId: Uint8Array; challenge: Uint8Array; caps?: number }
  /**
   * The relay's first frame, to a client that asked for it when it connected (PROTOCOL.md, Join):
   * this connection's challenge, the one every `challenge` on it carries, and the relay's caps, so
   * the client sends `hello` and `auth` together instead of waiting a round trip for `challenge`.
   * About the connection, not a space: `spaceId` is empty and not on the wire.
   */
  | { type: 'welcome'; spaceId: Uint8Array; challenge: Uint8Array; caps?: number }
  | { type: 'ok'; reqId: number; spaceId: Uint8Array; cursor: number }
  | { type: 'entries'; reqId: number; spaceId: Uint8Array; entries: Entry[]; head: number; more: boolean }
  | { type: 'error'; reqId: number; spaceId: Uint8Array; code: string; message: string }
  | { type: 'presenceOut'; spaceId: Uint8Array; envelope: Uint8Array }
  | { type: 'peerLeft'; spaceId: Uint8Array; author: Uint8Array }

export type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>

export function writeFrame (f: Frame): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, FrameType[f.type])
  switch (f.type) {
    case 'create':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint8Array(e, f.accessPk); encoding.writeVarUint8Array(e, f.writePk)
      encoding.writeVarUint8Array(e, f.accessSig); encoding.writeVarUint8Array(e, f.writeSig)
      break
    case 'hello':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      if (f.caps !== undefined) encoding.writeVarUint(e, f.caps)
      break
    case 'auth':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint8Array(e, f.signature); encoding.writeVarUint(e, f.after)
      break
    case 'append':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint8Array(e, f.envelope)
      break
    case 'fetch':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint(e, f.after); encoding.writeVarUint(e, f.limit)
      break
    case 'fetchStream':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint8Array(e, f.author); encoding.writeVarUint8Array(e, f.stream)
      encoding.writeVarUint(e, f.fromSeq); encoding.writeVarUint(e, f.limit)
      break
    case 'leave':
      encoding.writeVarUint8Array(e, f.spaceId)
      break
    case 'presence':
    case 'presenceOut':
      encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint8Array(e, f.envelope)
      break
    case 'challenge':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint8Array(e, f.challenge)
      if (f.caps !== undefined) encoding.writeVarUint(e, f.caps)
      break
    case 'welcome':
      encoding.writeVarUint8Array(e, f.challenge)
      if (f.caps !== undefined) encoding.writeVarUint(e, f.caps)
      break
    case 'ok':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint(e, f.cursor)
      break
    case 'entries':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint(e, f.entries.length)
      for (const x of f.entries) { encoding.writeVarUint(e, x.cursor); encoding.writeVarUint8Array(e, x.envelope) }
      encoding.writeVarUint(e, f.head); encoding.writeUint8(e, f.more ? 1 : 0)
      break
    case 'error':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      // Codes are stable ASCII identifiers that clients switch on (e.g. relay/space-exists): cut by
      // UTF-8 bytes to the reader's cap, never by a quarter of it (that cut every code to 16 chars).
      encoding.writeVarString(e, fitUtf8(f.code, MAX_CODE)); encoding.writeVarString(e, f.message.slice(0, MAX_MESSAGE / 4))
      break
    case 'peerLeft':
      encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint8Array(e, f.author)
      break
    case 'putSnapshot': {
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint(e, f.covers); encoding.writeVarUint8Array(e, f.envelope)
      // `?? []`: a caller built against the frame before parts existed still sends a valid frame.
      const parts: readonly Uint8Array[] = (f.parts as Uint8Array[] | undefined) ?? []
      encoding.writeVarUint(e, parts.length)
      for (const p of parts) encoding.writeVarUint8Array(e, p)
      break
    }
    case 'attest':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint8Array(e, f.snapshotHash); encoding.writeVarUint8Array(e, f.device)
      encoding.writeVarUint8Array(e, f.cert); encoding.writeVarUint8Array(e, f.signature)
      break
    case 'putSnapshotPart':
    case 'snapshotPart':
    case 'receipt':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint8Array(e, f.envelope)
      break
    case 'rotate':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint(e, f.epoch)
      encoding.writeVarUint8Array(e, f.accessPk); encoding.writeVarUint8Array(e, f.writePk)
      encoding.writeVarUint8Array(e, f.signature); encoding.writeVarUint8Array(e, f.keyChange)
      break
    case 'receipts':
    case 'keyChanges':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint(e, f.envelopes.length)
      for (const x of f.envelopes) encoding.writeVarUint8Array(e, x)
      break
    case 'getSnapshotPart':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint8Array(e, f.hash)
      break
    case 'listSnapshots':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId); encoding.writeVarUint(e, f.limit)
      break
    case 'snapshots':
      encoding.writeVarUint(e, f.reqId); encoding.writeVarUint8Array(e, f.spaceId)
      encoding.writeVarUint(e, f.snapshots.length)
      for (const x of f.snapshots) {
        encoding.writeVarUint(e, x.id); encoding.writeVarUint(e, x.covers)
        encoding.writeUint8(e, x.attested ? 1 : 0); encoding.writeVarUint8Array(e, x.envelope)
      }
      break
  }
  return encoding.toUint8Array(e)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Enc = new TextEncoder()

/** The longest prefix of `s` whose UTF-8 encoding fits in `maxBytes` (all of it for an ASCII code within the cap). */
function fitUtf8 (s: string, maxBytes: number): string {
  let out = s.slice(0, maxBytes)
  while (utf8Enc.encode(out).length > maxBytes) out = out.slice(0, -1)
  return out
}

function fixed (r: Reader, n: number, what: string): Uint8Array {
  const b = r.varBytes(n)
  if (b.length !== n) throw new DecodeError('frame/bad-field', `${what} must be ${n} bytes, got ${b.length}`)
  return b.slice()
}

function text (r: Reader, cap: number): string {
  try {
    return utf8.decode(r.varBytes(cap))
  } catch (e) {
    if (e instanceof DecodeError) throw e
    throw new DecodeError('frame/bad-field', 'invalid UTF-8')
  }
}

function envelope (r: Reader): Uint8Array {
  return r.varBytes(MAX_ENVELOPE_BYTES).slice()
}

export type FrameErrorCode = 'frame/truncated' | 'frame/bad-varint' | 'frame/too-large' | 'frame/bad-field' | 'frame/trailing-bytes' | 'frame/unknown-type'

/** Parses one frame; every byte kept in the result is a copy (socket buffers are reused). */
export function readFrame (bytes: Uint8Array): Result<Frame, FrameErrorCode> {
  if (bytes.length > MAX_FRAME_BYTES) return err('frame/too-large', `frame of ${bytes.length} bytes`)
  try {
    const r = new Reader(bytes)
    const t = r.varUint(255)
    const reqId = (): number => r.varUint(0xffffffff)
    const space = (): Uint8Array => fixed(r, SPACE_ID_BYTES, 'spaceId')
    const cursor = (): number => r.varUint()
    // Capability bits, optional and trailing so older frames still parse.
    const caps = (): number => r.varUint(0xffffffff)
    let f: Frame
    switch (t) {
      case FrameType.create: f = {
        type: 'create', reqId: reqId(), spaceId: space(), accessPk: fixed(r, PK_BYTES, 'accessPk'), writePk: fixed(r, PK_BYTES, 'writePk'),
        accessSig: fixed(r, SIG_BYTES, 'accessSig'), writeSig: fixed(r, SIG_BYTES, 'writeSig')
      }; break
      case FrameType.hello: f = { type: 'hello', reqId: reqId(), spaceId: space() }; if (r.left > 0) f.caps = caps(); break
      case FrameType.auth: f = { type: 'auth', reqId: reqId(), spaceId: space(), signature: fixed(r, SIG_BYTES, 'signature'), after: cursor() }; break
      case FrameType.append: f = { type: 'append', reqId: reqId(), spaceId: space(), envelope: envelope(r) }; break
      case FrameType.fetch: f = { type: 'fetch', reqId: reqId(), spaceId: space(), after: cursor(), limit: r.varUint(MAX_ENTRIES_PER_FRAME) }; break
      case FrameType.fetchStream: f = { type: 'fetchStream', reqId: reqId(), spaceId: space(), author: fixed(r, PK_BYTES, 'author'), stream: fixed(r, STREAM_BYTES, 'stream'), fromSeq: r.varUint(0xffffffff), limit: r.varUint(MAX_ENTRIES_PER_FRAME) }; break
      case FrameType.leave: f = { type: 'leave', spaceId: space() }; break
      case FrameType.presence: f = { type: 'presence', spaceId: space(), envelope: envelope(r) }; break
      case FrameType.presenceOut: f = { type: 'presenceOut', spaceId: space(), envelope: envelope(r) }; break
      case FrameType.welcome: f = { type: 'welcome', spaceId: new Uint8Array(0), challenge: fixed(r, CHALLENGE_BYTES, 'challenge') }; if (r.left > 0) f.caps = caps(); break
      case FrameType.challenge: f = { type: 'challenge', reqId: reqId(), spaceId: space(), challenge: fixed(r, CHALLENGE_BYTES, 'challenge') }; if (r.left > 0) f.caps = caps(); break
      case FrameType.ok: f = { type: 'ok', reqId: reqId(), spaceId: space(), cursor: cursor() }; break
      case FrameType.entries: {
        const id = reqId()
        const spaceId = space()
        const n = r.varUint(MAX_ENTRIES_PER_FRAME)
        const entries: Entry[] = []
        for (let i = 0; i < n; i++) entries.push({ cursor: cursor(), envelope: envelope(r) })
        const head = cursor()
        const more = r.u8()
        if (more > 1) throw new DecodeError('frame/bad-field', 'more flag must be 0 or 1')
        f = { type: 'entries', reqId: id, spaceId, entries, head, more: more === 1 }
        break
      }
      case FrameType.error: {
        const id = reqId()
        // An error about the connection as a whole carries an empty space id.
        const spaceId = r.varBytes(SPACE_ID_BYTES).slice()
        if (spaceId.length !== 0 && spaceId.length !== SPACE_ID_BYTES) throw new DecodeError('frame/bad-field', 'spaceId must be 0 or 16 bytes')
        f = { type: 'error', reqId: id, spaceId, code: text(r, MAX_CODE), message: text(r, MAX_MESSAGE) }
        break
      }
      case FrameType.peerLeft: f = { type: 'peerLeft', spaceId: space(), author: fixed(r, PK_BYTES, 'author') }; break
      case FrameType.putSnapshot: {
        const id = reqId()
        const spaceId = space()
        const covers = cursor()
        const env = envelope(r)
        const n = r.varUint(MAX_SNAPSHOT_PARTS)
        const parts: Uint8Array[] = []
        for (let i = 0; i < n; i++) parts.push(fixed(r, HASH_BYTES, 'part hash'))
        f = { type: 'putSnapshot', reqId: id, spaceId, covers, envelope: env, parts }
        break
      }
      case FrameType.listSnapshots: f = { type: 'listSnapshots', reqId: reqId(), spaceId: space(), limit: r.varUint(MAX_SNAPSHOTS_PER_FRAME) }; break
      case FrameType.attest: f = {
        type: 'attest', reqId: reqId(), spaceId: space(), snapshotHash: fixed(r, HASH_BYTES, 'snapshotHash'),
        device: fixed(r, PK_BYTES, 'device'), cert: fixed(r, SIG_BYTES, 'cert'), signature: fixed(r, SIG_BYTES, 'signature')
      }; break
      case FrameType.putSnapshotPart: f = { type: 'putSnapshotPart', reqId: reqId(), spaceId: space(), envelope: envelope(r) }; break
      case FrameType.getSnapshotPart: f = { type: 'getSnapshotPart', reqId: reqId(), spaceId: space(), hash: fixed(r, HASH_BYTES, 'hash') }; break
      case FrameType.snapshotPart: f = { type: 'snapshotPart', reqId: reqId(), spaceId: space(), envelope: envelope(r) }; break
      case FrameType.snapshots: {
        const id = reqId()
        const spaceId = space()
        const n = r.varUint(MAX_SNAPSHOTS_PER_FRAME)
        const snapshots: SnapshotEntry[] = []
        for (let i = 0; i < n; i++) {
          const sid = cursor()
          const covers = cursor()
          const attested = r.u8()
          if (attested > 1) throw new DecodeError('frame/bad-field', 'attested flag must be 0 or 1')
          snapshots.push({ id: sid, covers, attested: attested === 1, envelope: envelope(r) })
        }
        f = { type: 'snapshots', reqId: id, spaceId, snapshots }
        break
      }
      case FrameType.receipt: f = { type: 'receipt', reqId: reqId(), spaceId: space(), envelope: envelope(r) }; break
      case FrameType.receipts: {
        const id = reqId()
        const spaceId = space()
        const n = r.varUint(MAX_RECEIPTS_PER_FRAME)
        const envelopes: Uint8Array[] = []
        for (let i = 0; i < n; i++) envelopes.push(envelope(r))
        f = { type: 'receipts', reqId: id, spaceId, envelopes }
        break
      }
      case FrameType.rotate: f = {
        type: 'rotate', reqId: reqId(), spaceId: space(), epoch: r.varUint(0xffffffff), accessPk: fixed(r, PK_BYTES, 'accessPk'),
        writePk: fixed(r, PK_BYTES, 'writePk'), signature: fixed(r, SIG_BYTES, 'signature'), keyChange: envelope(r)
      }; break
      case FrameType.keyChanges: {
        const id = reqId()
        const spaceId = space()
        const n = r.varUint(MAX_KEY_CHANGES_PER_FRAME)
        const envelopes: Uint8Array[] = []
        for (let i = 0; i < n; i++) envelopes.push(envelope(r))
        f = { type: 'keyChanges', reqId: id, spaceId, envelopes }
        break
      }
      default: return err('frame/unknown-type', `unknown frame type ${t}`)
    }
    r.end()
    return ok(f)
  } catch (e) {
    if (e instanceof DecodeError) return err(e.code as FrameErrorCode, e.message)
    throw e
  }
}
