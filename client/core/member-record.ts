import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { err, ok, type Result } from '../../shared/errors.js'
import { STREAM_BYTES } from '../../shared/header.js'

/**
 * The plaintext of a member record (issue 11, PROTOCOL.md "Members"): the name and colour a
 * device's person chose, sealed under the content key so the relay sees only that a device joined.
 * The role is not claimed here: it is read from the certificate in the header (write or view).
 *
 *   member := varUint(1) • varUint(atMs) • varString(name, ≤ 64 bytes) • u8(colour < 8)
 */
export interface MemberBody {
  /** When it was sealed (the sender's clock, ms): the newest of a device wins, older ones are replays. */
  readonly at: number
  readonly name: string
  readonly colour: number
}

export const MAX_MEMBER_NAME = 64
export const MEMBER_COLOURS = 8
/** The stream id member records are sealed under (seq = seconds, not a chain: newest wins). */
export const MEMBER_STREAM = new Uint8Array(STREAM_BYTES).fill(0xfd)

export function writeMember (b: MemberBody): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, b.at)
  encoding.writeVarString(e, clipName(b.name))
  encoding.writeUint8(e, Math.abs(Math.trunc(b.colour)) % MEMBER_COLOURS)
  return encoding.toUint8Array(e)
}

export function readMember (plain: Uint8Array): Result<MemberBody, 'member/malformed'> {
  try {
    const d = decoding.createDecoder(plain)
    if (decoding.readVarUint(d) !== 1) return err('member/malformed', 'unknown member record version')
    const at = decoding.readVarUint(d)
    const name = decoding.readVarString(d)
    if (new TextEncoder().encode(name).length > MAX_MEMBER_NAME) return err('member/malformed', 'name too long')
    const colour = decoding.readUint8(d)
    if (colour >= MEMBER_COLOURS) return err('member/malformed', 'no such colour')
    if (decoding.hasContent(d)) return err('member/malformed', 'trailing bytes')
    return ok({ at, name, colour })
  } catch {
    return err('member/malformed', 'member record is cut short')
  }
}

/** At most MAX_MEMBER_NAME bytes of UTF-8, cut at a character boundary. */
function clipName (name: string): string {
  let out = ''
  let n = 0
  for (const ch of name.trim()) {
    n += new TextEncoder().encode(ch).length
    if (n > MAX_MEMBER_NAME) break
    out += ch
  }
  return out
}
