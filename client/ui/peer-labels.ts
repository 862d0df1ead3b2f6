import { fromHex } from '../../shared/bytes.js'
import type { PresencePeer } from '../core/presence.js'
import { readable } from './fingerprint.js'

/**
 * How a peer is named on screen (issue 8 item 8: presence is bound to the device).
 *
 * A name and a colour are whatever a member types: anyone with a link can claim "Ann" in Ann's
 * colour. What nobody can claim is another's device key, which signed the state (client/core/
 * presence-gate.ts keys peers by it). So every peer carries a short tag of its device key; it is
 * always in the tooltip, and shown next to the name whenever two devices here (this one included)
 * claim names that look alike, so the two are told apart. A view-only device is always marked as
 * an unverified viewer: it holds no write certificate, so nobody vouches for its name.
 *
 * "Look alike" is deliberately loose (case, accents, spacing, punctuation and common Cyrillic and
 * Greek look-alikes of Latin letters are ignored): a false match only costs a tag on screen.
 * The tag is 40 bits of the key; the tooltip shows 80. Someone willing to grind keys for days
 * could match the short one, never the long one, and the same-name warning still shows.
 */
export interface PeerLabel {
  /** The claimed name, trimmed ("Someone" if empty). */
  readonly name: string
  /** Short device tag, e.g. "7QK2-M9XA". */
  readonly tag: string
  /** Longer device fingerprint for the tooltip. */
  readonly fingerprint: string
  /** Another device here (or this one) claims a name that looks the same. */
  readonly sameName: boolean
  readonly viewer: boolean
  /** What to print: the name, plus the tag when it is needed to tell devices apart. */
  readonly text: string
  /** The tooltip: whose device, how sure we are. */
  readonly title: string
}

export type LabelledPeer = PresencePeer & { readonly label: PeerLabel }

export interface Self {
  readonly name: string
  /** This device's key (hex), when known (a follower tab learns it from the leader). */
  readonly device?: string
}

const LOOKALIKE: Readonly<Record<string, string>> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', і: 'l', ї: 'l', ј: 'j', ѕ: 's', ԁ: 'd', ԛ: 'q', ԝ: 'w', ѵ: 'v', һ: 'h',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'l', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ɑ: 'a', ı: 'l',
  i: 'l', 1: 'l', ℓ: 'l', 0: 'o'
}

/** The key two names are compared by: equal keys mean "looks like the same name". */
export function nameKey (name: string): string {
  const folded = [...name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/[^\p{L}\p{N}]/gu, '')]
    .map(c => LOOKALIKE[c] ?? c).join('')
  return folded !== '' ? folded : name.trim()
}

export function deviceTag (deviceHex: string, groups = 2): string {
  const bytes = fromHex(deviceHex)
  return bytes === undefined || bytes.length === 0 ? '?' : readable(bytes, groups)
}

export function displayName (name: string): string {
  const t = name.trim()
  return t === '' ? 'Someone' : t
}

/** Labels every peer, telling apart devices that claim look-alike names (this device's included). */
export function labelPeers (peers: readonly PresencePeer[], self: Self): LabelledPeer[] {
  const counts = new Map<string, number>()
  const bump = (k: string): void => { counts.set(k, (counts.get(k) ?? 0) + 1) }
  bump(nameKey(self.name))
  for (const p of peers) bump(nameKey(p.state.name))
  return peers.map(p => {
    const name = displayName(p.state.name)
    const sameName = (counts.get(nameKey(p.state.name)) ?? 0) > 1
    const tag = deviceTag(p.device)
    const fingerprint = deviceTag(p.device, 4)
    const viewer = !p.certified
    const text = sameName || viewer ? `${name} · ${tag}` : name
    const who = viewer
      ? 'a viewer: this device holds only a view link, so nobody vouches for this name'
      : 'an editor: this device holds a write certificate of this space'
    const title = `${name}, device ${fingerprint}, ${who}.${sameName ? ' Another device here uses a name that looks the same: tell them apart by the device code.' : ''}`
    return { ...p, label: { name, tag, fingerprint, sameName, viewer, text, title } }
  })
}

/** Whether this device's own entry needs its tag shown: a peer claims a look-alike name. */
export function selfNeedsTag (peers: readonly PresencePeer[], self: Self): boolean {
  const k = nameKey(self.name)
  return peers.some(p => nameKey(p.state.name) === k)
}
