import { toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open as openEnvelope, seal } from '../../shared/envelope.js'
import type { Frame, FrameOf } from '../../shared/frame.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { verifyMemberRecord, viewCertMessage } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import { MEMBER_STREAM, readMember, writeMember } from './member-record.js'

/**
 * Who is in a space (issue 11, part 1): every device that opened it, viewers included, by its key,
 * the name and colour its person chose (sealed: the relay sees keys and counts only), its role
 * and when it was last seen.
 *
 * Each device seals a member record (member-record.ts) when it joins and when its profile
 * changes. An editor's record carries its write certificate; a viewer, which has none, carries a
 * view certificate made with the access key (shared/sign.ts `viewCertMessage`), which the relay
 * and clients accept on member records only. The role shown is the one the certificate proves,
 * never one the record claims. The relay keeps the newest record per device beside receipts and
 * serves them after each catch-up; a record older than one held from the same device is a replay
 * and changes nothing. "Last seen" is the newer of the device's newest receipt (editors send
 * them; receipts.ts) and its newest record, never ahead of this clock.
 */
export type Role = 'edit' | 'view'

export interface Member {
  /** Device public key, hex. */
  readonly device: string
  readonly name: string
  readonly colour: number
  readonly role: Role
  /** ms since the epoch; undefined when never seen (a member known only from a receipt has none of this). */
  readonly lastSeen: number | undefined
  /** This device. */
  readonly self: boolean
}

export interface Profile { readonly name: string; readonly colour: number }

export interface MembersHost {
  readonly sodium: Sodium
  readonly keys: SpaceKeys
  readonly devicePkHex: string
  /** This device's key pair in the space and its write certificate (none for a viewer). */
  readonly device: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array; readonly cert: Uint8Array | undefined }
  /** Receipts' "last seen" per device (receipts.ts). */
  lastSeen (): ReadonlyMap<string, number>
  /** Joined to the relay (a record sent otherwise would be lost). */
  joined (): boolean
  /** Sends a request and resolves with the relay's answer (an error frame when offline). */
  request (make: (reqId: number) => Frame): Promise<Frame>
  /** A member record was refused (its code); for the session's alerts, once per reason. */
  alert (code: string, message: string): void
  /** The list changed (a record was taken). */
  changed (): void
  now (): number
}

interface Held { readonly at: number; readonly name: string; readonly colour: number; readonly role: Role }

/** Editors seen this recently take turns answering snapshots and new streams (receipt-sync.ts, snapshot-cadence.ts `closes`). */
const RECENT_EDITOR_MS = 10 * 60_000

export class Members {
  private readonly held = new Map<string, Held>()
  private profile: Profile = { name: '', colour: 0 }
  private readonly alerted = new Set<string>()
  readonly stats = { received: 0, replays: 0, refused: 0, sent: 0 }

  constructor (private readonly h: MembersHost) {}

  /**
   * Members a key change kept, as the previous epoch knew them (meta.ts `previous.members`), until
   * their own record of this epoch replaces them (at 0: any record is newer).
   */
  seed (kept: ReadonlyArray<{ readonly device: string; readonly name: string; readonly colour: number; readonly role: Role }>): void {
    for (const m of kept) if (!this.held.has(m.device)) this.held.set(m.device, { at: 0, name: m.name, colour: m.colour, role: m.role })
  }

  /** The member records in a `receipts` frame are taken here; the frame returned holds the rest (receipts). */
  take (f: FrameOf<'receipts'>): FrameOf<'receipts'> {
    const rest: Uint8Array[] = []
    let taken = false
    for (const env of f.envelopes) {
      const p = parseEnvelope(env)
      // Records and receipts of an older epoch (kept by the relay from before a rotation) are stale: dropped.
      if (p.ok && p.value.header.epoch !== this.h.keys.epoch) continue
      if (p.ok && p.value.header.type === MsgType.member) taken = this.receive(env) === 'taken' || taken
      else rest.push(env)
    }
    if (taken) this.h.changed()
    return rest.length === f.envelopes.length ? f : { ...f, envelopes: rest }
  }

  /** A member record from the relay: verified (certificate, signature, AEAD), then newest per device wins. */
  receive (env: Uint8Array): 'taken' | 'replay' | 'refused' {
    const p = parseEnvelope(env)
    if (!p.ok) return this.refuse(p.code)
    const role = verifyMemberRecord(this.h.sodium, p.value, this.h.keys.writePk, this.h.keys.access.publicKey)
    if (!role.ok) return this.refuse(role.code)
    // The certificate and signature are checked above; open() checks the rest (epoch, key, AEAD).
    const o = openEnvelope(this.h.sodium, this.h.keys, env, { types: [MsgType.member], certOk: true })
    if (!o.ok) return this.refuse(o.code)
    const body = readMember(o.value.plaintext)
    if (!body.ok) return this.refuse(body.code)
    const device = toHex(o.value.header.author)
    const old = this.held.get(device)
    if (old !== undefined && body.value.at <= old.at) { this.stats.replays++; return 'replay' }
    this.held.set(device, { ...body.value, role: role.value })
    this.stats.received++
    return 'taken'
  }

  private refuse (code: string): 'refused' {
    this.stats.refused++
    // Not blamed on anyone: the relay stores records it cannot read and may have altered one.
    if (!this.alerted.has(code)) {
      this.alerted.add(code)
      this.h.alert('member/invalid', `a member record did not verify (${code}); ignored`)
    }
    return 'refused'
  }

  /** Sets this device's profile; sends a new record when it changed and the session is joined. */
  setProfile (p: Profile): void {
    const same = p.name === this.profile.name && p.colour === this.profile.colour
    this.profile = p
    if (!same) void this.announce()
  }

  /**
   * Seals and sends this device's member record (on joining, and after a profile change);
   * resolves true once the relay stored it.
   */
  async announce (): Promise<boolean> {
    if (!this.h.joined()) return false
    const at = Math.max(this.h.now(), (this.held.get(this.h.devicePkHex)?.at ?? 0) + 1)
    const d = this.h.device
    const cert = d.cert ?? this.h.sodium.crypto_sign_detached(viewCertMessage(this.h.keys.spaceId, d.publicKey), this.h.keys.access.privateKey)
    const env = seal(this.h.sodium, this.h.keys, { publicKey: d.publicKey, privateKey: d.privateKey, cert }, MsgType.member,
      { stream: MEMBER_STREAM, seq: Math.floor(at / 1000) >>> 0, prevHash: GENESIS_HASH }, writeMember({ at, ...this.profile }))
    this.held.set(this.h.devicePkHex, { at, ...this.profile, role: d.cert === undefined ? 'view' : 'edit' })
    this.stats.sent++
    this.h.changed()
    const answer = await this.h.request(reqId => ({ type: 'receipt', reqId, spaceId: this.h.keys.spaceId, envelope: env }))
    return answer.type === 'ok'
  }

  /** Every device known, this one first, then by role (editors first) and name. */
  /**
   * Editors seen within `withinMs` (a record or a receipt), this device included if it edits: the
   * members who take turns answering a snapshot or a new stream (receipt-sync.ts). Long-gone
   * devices would take turns nobody answers.
   */
  recentEditors (withinMs = RECENT_EDITOR_MS): string[] {
    const since = this.h.now() - withinMs
    return this.list().filter(m => m.role === 'edit' && (m.self || (m.lastSeen ?? 0) >= since)).map(m => m.device)
  }

  list (): Member[] {
    const seen = this.h.lastSeen()
    const now = this.h.now()
    const out: Member[] = []
    const self = this.h.devicePkHex
    if (!this.held.has(self)) out.push({ device: self, ...this.profile, role: this.h.device.cert === undefined ? 'view' : 'edit', lastSeen: now, self: true })
    for (const [device, m] of this.held) {
      const last = Math.max(seen.get(device) ?? 0, Math.min(m.at, now))
      out.push({ device, name: m.name, colour: m.colour, role: m.role, lastSeen: device === self ? now : last === 0 ? undefined : last, self: device === self })
    }
    // Editors who sent receipts but no record yet (an older client): known by key only.
    for (const [device, at] of seen) if (!this.held.has(device) && device !== self) out.push({ device, name: '', colour: 0, role: 'edit', lastSeen: at, self: false })
    return out.sort((a, b) => Number(b.self) - Number(a.self) || (a.role === b.role ? 0 : a.role === 'edit' ? -1 : 1) || a.name.localeCompare(b.name) || (a.device < b.device ? -1 : 1))
  }
}
