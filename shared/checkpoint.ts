import { equalBytes, Reader, toHex } from './bytes.js'
import { DecodeError, err, ok, type Result } from './errors.js'
import { PK_BYTES, STREAM_BYTES } from './header.js'

/**
 * A freshness checkpoint (DESIGN.md §7 "Rollback", issue 8): what the inviter had verified when it
 * made an invite link, carried in the link's fragment so that a device opening the link can refuse
 * an older state the relay serves it. A new device has no state of its own to compare with; without
 * this a relay could show it snapshot #0 as the whole space.
 *
 * It names a few stream heads (the most recently active ones: any rollback leaves out at least the
 * newest entry of the log, which is the head of the most recent stream), each as its position and,
 * when the inviter holds it, a prefix of the envelope's hash there. Grouped by author so that a
 * member with several streams costs its 32-byte key once:
 *
 *   checkpoint := varUint(1) • varUint(nAuthors)
 *                 • nAuthors × (author(32) • varUint(nStreams ≥ 1)
 *                              • nStreams × (stream(8) • varUint(seq) • u8(hasHash) • [hashPrefix(16)]))
 *                 -- at most MAX_CHECKPOINT_HEADS heads in all; no (author, stream) twice
 *
 * No MAC: the link already carries the space secret, and the relay never sees the fragment, so
 * whoever could alter the checkpoint could alter the keys too.
 */
export interface CheckpointHead {
  readonly author: Uint8Array
  readonly stream: Uint8Array
  readonly seq: number
  /** The first CHECKPOINT_HASH_BYTES of hash(envelope at `seq`); empty when the inviter kept only the position. */
  readonly hash: Uint8Array
}

export interface Checkpoint { readonly heads: readonly CheckpointHead[] }

/** Heads one link carries: enough to catch a rollback, short enough to paste (the fragment stays under ~480 characters). */
export const MAX_CHECKPOINT_HEADS = 4
/** 128 bits: a member would need ~2^64 work to make two envelopes one checkpoint cannot tell apart. */
export const CHECKPOINT_HASH_BYTES = 16
/** Bytes a checkpoint may take in a link before it is refused unread. */
export const MAX_CHECKPOINT_BYTES = 2 + MAX_CHECKPOINT_HEADS * (PK_BYTES + 1 + STREAM_BYTES + 5 + 1 + CHECKPOINT_HASH_BYTES)
const VERSION = 1
const MAX_SEQ = 0xffffffff

export type CheckpointErrorCode = 'link/bad-checkpoint'

/** Encodes up to MAX_CHECKPOINT_HEADS heads (the first ones given), grouped by author in first-seen order. */
export function writeCheckpoint (c: Checkpoint): Uint8Array {
  const heads = c.heads.slice(0, MAX_CHECKPOINT_HEADS)
  const groups: { author: Uint8Array; heads: CheckpointHead[] }[] = []
  for (const h of heads) {
    const g = groups.find(x => equalBytes(x.author, h.author))
    if (g === undefined) groups.push({ author: h.author, heads: [h] })
    else g.heads.push(h)
  }
  const out: number[] = []
  varUint(out, VERSION)
  varUint(out, groups.length)
  for (const g of groups) {
    out.push(...fixed(g.author, PK_BYTES, 'author'))
    varUint(out, g.heads.length)
    for (const h of g.heads) {
      out.push(...fixed(h.stream, STREAM_BYTES, 'stream'))
      if (!Number.isInteger(h.seq) || h.seq < 0 || h.seq > MAX_SEQ) throw new Error(`checkpoint seq out of range: ${h.seq}`)
      varUint(out, h.seq)
      const hash = h.hash.subarray(0, CHECKPOINT_HASH_BYTES)
      if (hash.length === 0) out.push(0)
      else out.push(1, ...fixed(hash, CHECKPOINT_HASH_BYTES, 'hash'))
    }
  }
  return Uint8Array.from(out)
}

/** Decodes a checkpoint from a link; anything but a well-formed, bounded one is `link/bad-checkpoint`. */
export function readCheckpoint (bytes: Uint8Array): Result<Checkpoint, CheckpointErrorCode> {
  if (bytes.length > MAX_CHECKPOINT_BYTES) return err('link/bad-checkpoint', `the link's checkpoint is ${bytes.length} bytes, above ${MAX_CHECKPOINT_BYTES}`)
  try {
    const r = new Reader(bytes)
    const version = r.varUint()
    if (version !== VERSION) return err('link/bad-checkpoint', `unknown checkpoint version ${version}`)
    const nAuthors = r.varUint(MAX_CHECKPOINT_HEADS)
    const heads: CheckpointHead[] = []
    const seen = new Set<string>()
    for (let a = 0; a < nAuthors; a++) {
      const author = r.bytes(PK_BYTES).slice()
      const n = r.varUint(MAX_CHECKPOINT_HEADS)
      if (n === 0) return err('link/bad-checkpoint', 'an author with no streams')
      if (heads.length + n > MAX_CHECKPOINT_HEADS) return err('link/bad-checkpoint', `more than ${MAX_CHECKPOINT_HEADS} heads`)
      for (let i = 0; i < n; i++) {
        const stream = r.bytes(STREAM_BYTES).slice()
        const seq = r.varUint(MAX_SEQ)
        const flag = r.u8()
        if (flag > 1) return err('link/bad-checkpoint', 'bad hash flag')
        const hash = flag === 1 ? r.bytes(CHECKPOINT_HASH_BYTES).slice() : new Uint8Array(0)
        const key = `${toHex(author)}:${toHex(stream)}`
        if (seen.has(key)) return err('link/bad-checkpoint', 'a stream named twice')
        seen.add(key)
        heads.push({ author, stream, seq, hash })
      }
    }
    r.end()
    return ok({ heads })
  } catch (e) {
    if (e instanceof DecodeError) return err('link/bad-checkpoint', `the link's checkpoint is damaged (${e.message})`)
    throw e
  }
}

function varUint (out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
}

function fixed (b: Uint8Array, n: number, what: string): Uint8Array {
  if (b.length !== n) throw new Error(`checkpoint ${what} must be ${n} bytes, not ${b.length}`)
  return b
}
