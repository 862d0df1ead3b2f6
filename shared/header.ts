import { Reader, writeU32 } from './bytes.js'
import { DecodeError, err, ok, type Result } from './errors.js'

/**
 * The envelope header (DESIGN.md §3), a fixed-size binary layout so the relay can read routing
 * fields without keys and every field is bounded by construction. The whole header is the AEAD
 * associated data and is covered by the device signature, so no field can be changed in transit.
 *
 *   version u8 • type u8 • spaceId 16 • epoch u32 • keyId 8 • author 32 • stream 8 • seq u32 •
 *   prevHash 32 • nonce 24 • commitment 32 • cert 64
 *
 * An envelope is `header • ciphertext • signature(64)`.
 */
export const VERSION = 2
/**
 * Versions that parse. They differ only in the commitment (envelope.ts `commitmentFor`): version 1
 * bound key and nonce, version 2 binds the key alone, so it is the same in every envelope under one
 * key and a compact frame need not carry it (issue 10). Version 1 envelopes stay readable.
 */
export const VERSIONS: ReadonlySet<number> = new Set([1, 2])

export const MsgType = {
  update: 1,
  snapshot: 2,
  presence: 3,
  receipt: 4,
  /** One chunk of a snapshot too large for one envelope; the snapshot head lists the parts' hashes. */
  snapshotPart: 5,
  /**
   * A device's join record (issue 11): its sealed profile, stored by the relay newest per device
   * beside receipts. The only type a view-certified device may have stored.
   */
  member: 6,
  /**
   * A key change (issue 11): sealed in the old epoch by an editor, it hands the next epoch's
   * secrets to each remaining device. Carried by the `rotate` frame, never appended to the log.
   */
  keyChange: 7
} as const
export type MsgType = typeof MsgType[keyof typeof MsgType]
const MSG_TYPES = new Set<number>(Object.values(MsgType))

export const SPACE_ID_BYTES = 16
export const KEY_ID_BYTES = 8
export const PK_BYTES = 32
export const STREAM_BYTES = 8
export const HASH_BYTES = 32
export const NONCE_BYTES = 24
export const COMMIT_BYTES = 32
export const SIG_BYTES = 64
export const HEADER_BYTES = 1 + 1 + SPACE_ID_BYTES + 4 + KEY_ID_BYTES + PK_BYTES + STREAM_BYTES + 4 + HASH_BYTES + NONCE_BYTES + COMMIT_BYTES + SIG_BYTES
/** AEAD tag (16) plus the smallest padding bucket (32): no valid ciphertext is shorter. */
export const MIN_CT_BYTES = 16 + 32
/** An envelope above this is refused by everyone: snapshots of very large spaces must be split (issue 4). */
export const MAX_ENVELOPE_BYTES = 16 * 1024 * 1024

export interface Header {
  readonly version: number
  readonly type: MsgType
  readonly spaceId: Uint8Array
  readonly epoch: number
  readonly keyId: Uint8Array
  readonly author: Uint8Array
  readonly stream: Uint8Array
  readonly seq: number
  readonly prevHash: Uint8Array
  readonly nonce: Uint8Array
  readonly commitment: Uint8Array
  readonly cert: Uint8Array
}

export function writeHeader (h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES)
  let p = 0
  out[p++] = h.version
  out[p++] = h.type
  const put = (b: Uint8Array, n: number): void => {
    if (b.length !== n) throw new Error(`header field of ${b.length} bytes, expected ${n}`)
    out.set(b, p)
    p += n
  }
  put(h.spaceId, SPACE_ID_BYTES)
  writeU32(out, p, h.epoch); p += 4
  put(h.keyId, KEY_ID_BYTES)
  put(h.author, PK_BYTES)
  put(h.stream, STREAM_BYTES)
  writeU32(out, p, h.seq); p += 4
  put(h.prevHash, HASH_BYTES)
  put(h.nonce, NONCE_BYTES)
  put(h.commitment, COMMIT_BYTES)
  put(h.cert, SIG_BYTES)
  return out
}

const SEQ_AT = 2 + SPACE_ID_BYTES + 4 + KEY_ID_BYTES + PK_BYTES + STREAM_BYTES

/**
 * The `seq` field of a header alone (a snapshot doorbell carries only the header), undefined when
 * too short. Nothing is verified: for choosing what to ask for, never for trusting.
 */
export function headerSeq (bytes: Uint8Array): number | undefined {
  return bytes.length < SEQ_AT + 4 ? undefined : new Reader(bytes.subarray(SEQ_AT, SEQ_AT + 4)).u32()
}

/** The parts of an envelope, as views into its bytes (copy what you keep). */
export interface Parsed {
  readonly header: Header
  readonly headerBytes: Uint8Array
  readonly ciphertext: Uint8Array
  readonly signature: Uint8Array
}

export type HeaderErrorCode = 'envelope/malformed' | 'envelope/bad-version' | 'envelope/bad-type' | 'envelope/too-large'

/** Splits an envelope into header, ciphertext and signature; checks only the layout, no crypto. */
export function parseEnvelope (env: Uint8Array): Result<Parsed, HeaderErrorCode> {
  if (env.length > MAX_ENVELOPE_BYTES) return err('envelope/too-large', `envelope of ${env.length} bytes`)
  if (env.length < HEADER_BYTES + MIN_CT_BYTES + SIG_BYTES) return err('envelope/malformed', `envelope of ${env.length} bytes is too short`)
  try {
    const r = new Reader(env)
    const version = r.u8()
    if (!VERSIONS.has(version)) return err('envelope/bad-version', `unknown envelope version ${version}`)
    const type = r.u8()
    if (!MSG_TYPES.has(type)) return err('envelope/bad-type', `unknown message type ${type}`)
    const header: Header = {
      version,
      type: type as MsgType,
      spaceId: r.bytes(SPACE_ID_BYTES),
      epoch: r.u32(),
      keyId: r.bytes(KEY_ID_BYTES),
      author: r.bytes(PK_BYTES),
      stream: r.bytes(STREAM_BYTES),
      seq: r.u32(),
      prevHash: r.bytes(HASH_BYTES),
      nonce: r.bytes(NONCE_BYTES),
      commitment: r.bytes(COMMIT_BYTES),
      cert: r.bytes(SIG_BYTES)
    }
    return ok({
      header,
      headerBytes: env.subarray(0, HEADER_BYTES),
      ciphertext: env.subarray(HEADER_BYTES, env.length - SIG_BYTES),
      signature: env.subarray(env.length - SIG_BYTES)
    })
  } catch (e) {
    if (e instanceof DecodeError) return err('envelope/malformed', e.message)
    throw e
  }
}
