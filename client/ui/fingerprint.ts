import { concat } from '../../shared/bytes.js'
import type { SpaceSecrets } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'

/**
 * Short codes two people can read to each other (DESIGN.md §7, "space fingerprint").
 *
 * - The **space code** names the space and its write key: equal codes mean both links are for the
 *   same space with the same writers (a link altered to swap keys shows a different code).
 * - The **state code** is a hash of every stream head the replica has applied: equal codes mean
 *   both devices hold exactly the same changes. While edits are in flight they differ; once both
 *   show "all changes on the relay" they must match, or the relay is showing them different pasts.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ' // Crockford base32: no I, L, O, U to misread

export function readable (h: Uint8Array, groups = 4): string {
  let bits = 0
  let acc = 0
  let out = ''
  for (const b of h) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5 && out.length < groups * 4) {
      bits -= 5
      out += ALPHABET[(acc >>> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  return out.match(/.{4}/g)!.join('-')
}

export function spaceCode (sodium: Sodium, s: SpaceSecrets): string {
  return readable(sodium.crypto_generichash(32, concat(new TextEncoder().encode('cove/space-code/v1\0'), s.spaceId, s.writePk), null))
}

export function stateCode (sodium: Sodium, heads: readonly { stream: string; seq: number; hash: Uint8Array }[]): string {
  const enc = new TextEncoder()
  const parts: Uint8Array[] = [enc.encode('cove/state-code/v1\0')]
  for (const h of heads) parts.push(enc.encode(`${h.stream}:${h.seq}:`), h.hash)
  return readable(sodium.crypto_generichash(32, concat(...parts), null), 3)
}
