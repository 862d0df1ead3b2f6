import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, open, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'

/**
 * What a hostile *member* has: the edit link, so a certified device of its own, and the keys to
 * open everything in the space. Helpers for tests in which such a member crafts envelopes by hand
 * (validly sealed and signed, so the relay stores them and every client must open them).
 */

/** A new device of the space, certified with the write key of the edit link. */
export function memberDevice (sodium: Sodium, keys: SpaceKeys): Device {
  const kp = sodium.crypto_sign_keypair()
  const cert = certifyDevice(sodium, keys, kp.publicKey)
  if (cert === undefined) throw new Error('memberDevice needs the keys of an edit link')
  return { publicKey: kp.publicKey, privateKey: kp.privateKey, cert }
}

/** A fresh space's keys and a certified device of it: the set-up of tests of one member's parts. */
export async function editMember (): Promise<{ sodium: Sodium; keys: SpaceKeys; device: Device }> {
  const sodium = await getSodium()
  const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  return { sodium, keys, device: memberDevice(sodium, keys) }
}

/** The plaintext of an update envelope (PROTOCOL.md): batch := varUint(n) • n × varBytes(yjsUpdateV1). */
export function writeBatch (updates: readonly Uint8Array[]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, updates.length)
  for (const u of updates) encoding.writeVarUint8Array(e, u)
  return encoding.toUint8Array(e)
}

/** Undefined when `plain` is not exactly one well-formed batch. */
export function readBatch (plain: Uint8Array): Uint8Array[] | undefined {
  try {
    const d = decoding.createDecoder(plain)
    const n = decoding.readVarUint(d)
    const out: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const len = decoding.readVarUint(d)
      if (len > d.arr.length - d.pos) return undefined
      out.push(decoding.readUint8Array(d, len))
    }
    return d.pos === d.arr.length ? out : undefined
  } catch {
    return undefined
  }
}

/** One opened update envelope of the log. */
export interface LogEntry {
  readonly cursor: number
  readonly envelope: Uint8Array
  readonly authorHex: string
  readonly author: Uint8Array
  readonly stream: Uint8Array
  readonly seq: number
  readonly hash: Uint8Array
  readonly updates: Uint8Array[]
}

/** Opens every update envelope in the `entries` frames a member received (in cursor order, each once). */
export function openLog (sodium: Sodium, keys: SpaceKeys, frames: readonly Frame[]): LogEntry[] {
  const seen = new Map<number, LogEntry>()
  for (const f of frames) {
    if (f.type !== 'entries') continue
    for (const e of f.entries) {
      if (seen.has(e.cursor)) continue
      const o = open(sodium, keys, e.envelope, { types: [MsgType.update] })
      if (!o.ok) throw new Error(`log entry ${e.cursor} does not open: ${o.code}`)
      const h = o.value.header
      seen.set(e.cursor, {
        cursor: e.cursor, envelope: e.envelope, authorHex: toHex(h.author), author: h.author.slice(), stream: h.stream.slice(), seq: h.seq, hash: o.value.hash,
        updates: readBatch(o.value.plaintext) ?? []
      })
    }
  }
  return [...seen.values()].sort((a, b) => a.cursor - b.cursor)
}

/** The Yjs clientIDs whose structs these updates carry. */
export function clientIdsOf (updates: readonly Uint8Array[]): number[] {
  return [...new Set(updates.flatMap(u => [...Y.parseUpdateMeta(u).from.keys()]))]
}

/**
 * A member's device that signs two envelopes for one position (stream 07…07, seq 0): one Yjs
 * clientID (4242) writing "version-one " in one and "version-two " in the other. For the split
 * equivocation a lying relay serves (issue 8).
 */
export function twoVersions (sodium: Sodium, keys: SpaceKeys): { device: Device; v1: Uint8Array; v2: Uint8Array } {
  const device = memberDevice(sodium, keys)
  const version = (s: string): Uint8Array => {
    const d = new Y.Doc()
    d.clientID = 4242
    d.getText('text').insert(0, s)
    const env = seal(sodium, keys, device, MsgType.update, { stream: new Uint8Array(8).fill(7), seq: 0, prevHash: GENESIS_HASH }, writeBatch([Y.encodeStateAsUpdate(d)]))
    d.destroy()
    return env
  }
  return { device, v1: version('version-one '), v2: version('version-two ') }
}
