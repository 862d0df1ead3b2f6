import { afterEach, describe, expect, it } from 'vitest'
import * as encoding from 'lib0/encoding'
import { createClient, type Client } from '../../client/core/client.js'
import * as model from '../../client/core/model.js'
import type { Space } from '../../client/core/space.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import type { RelayServer } from '../../relay/server.js'
import { concat, equalBytes } from '../../shared/bytes.js'
import { parseEnvelope } from '../../shared/header.js'
import { parseLink, type Invite } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import { getSodium } from '../../shared/sodium.js'
import * as wire from '../../shared/wire.js'
import { closeAll, openTracked, QUIET_SNAPSHOTS as QUIET, startTestRelay, waitFor, wsTransport } from '../support/relay.js'
import { startTamperProxy, type TamperProxy } from '../support/tamper-proxy.js'

/**
 * A relay that lies in compact frames (shared/wire.ts, issue 10) is caught by the checks of the
 * envelope the client rebuilds, exactly as a relay that alters a full envelope: a live entry sent
 * under another stream's ref, or with its prevHash mode flipped from "derived" to "zero", rebuilds
 * an envelope whose signature does not verify. The client applies nothing of it, says so, and
 * reads the entry again intact on a fresh connection (whose tables start empty).
 */
let relay: (RelayServer & { dir: string }) | undefined
let proxy: TamperProxy | undefined
const clients: Client[] = []
afterEach(async () => {
  await closeAll(clients, proxy, relay)
  proxy = undefined
  relay = undefined
})

const open = (invite: Invite, via?: string): Promise<Space> => openTracked(clients, invite, via)

/** Offsets in a one-entry compact entries frame: its ref, its flags, and the end of its envelope. */
function offsets (b: Uint8Array): { ref: number; flags: number; end: number } {
  const skip = (i: number): number => { while (b[i]! >= 0x80) i++; return i + 1 }
  const ref = skip(skip(skip(1))) // type, then reqId, n, cursor
  const flags = skip(ref)
  const f = b[flags]!
  let i = flags + 1
  if ((f & 16) === 0) i = skip(i) // seq, unless derived
  if ((f & 3) === 1) i += 32 // prevHash, when sent
  i += 24 // nonce
  if ((f & 8) === 0) i += 32 // commitment, unless the last one's
  let len = 0
  for (let k = 0, at = i; ; k++, at++) { len += (b[at]! & 0x7f) * 2 ** (7 * k); if (b[at]! < 0x80) break }
  return { ref, flags, end: skip(i) + len + 64 }
}

/** A ref's definition is laid out as the header up to the stream (shared/wire.ts): the author starts here. */
const AUTHOR_AT = 1 + 1 + 16 + 4 + 8

const varUint = (n: number): Uint8Array => { const e = encoding.createEncoder(); encoding.writeVarUint(e, n); return encoding.toUint8Array(e) }

type Lie = 'swap-ref' | 'flip-prev-mode'

/**
 * A writer (direct), and a reader through a proxy that lets both ends agree on compact frames and
 * rewrites the writer's next live entry to the reader once, the way `lie` says.
 */
interface World {
  readonly w: Space
  readonly r: Space
  /** Entries rewritten so far. */
  lied (): number
  /** Rewrite the writer's next live entry to the reader. */
  arm (): void
}

async function world (lie: Lie): Promise<World> {
  const sodium = await getSodium()
  relay = await startTestRelay()
  proxy = await startTamperProxy(relay.url, { compact: true })
  const creator = await createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space: QUIET })
  clients.push(creator)
  const made = await creator.createSpace(relay.url, 'Compact')
  model.addNote(made.space.doc, 'from the creator')
  await made.space.whenStored(5000)
  const inv = parseLink(sodium, made.editLink)
  if (!inv.ok) throw new Error(inv.message)
  const w = await open(inv.value)
  await w.whenCaughtUp(5000)
  // The proxy reads the relay's frames with tables of its own (the client's, as they should be),
  // from the reader's first connection on.
  let mirror = wire.createSession(env => hash(sodium, env))
  let conn = proxy.accepted
  let armed = false
  let lied = 0
  proxy.tamper = (dir, bytes) => {
    if (dir !== 'toClient' || proxy === undefined) return bytes
    if (proxy.accepted !== conn) { conn = proxy.accepted; mirror = wire.createSession(env => hash(sodium, env)) }
    const f = wire.readWire(mirror, bytes)
    if (!armed || !f.ok || f.value.type !== 'entries' || f.value.reqId !== 0 || bytes[0] !== wire.WireType.entriesC || f.value.entries.length !== 1) return bytes
    const p = parseEnvelope(f.value.entries[0]!.envelope)
    if (!p.ok || !equalBytes(p.value.header.author, w.devicePublicKey)) return bytes
    const at = offsets(bytes)
    if ((bytes[at.flags]! & 7) !== 0) return bytes // only a derived prevHash without a definition
    armed = false
    lied++
    if (lie === 'flip-prev-mode') {
      const out = bytes.slice()
      out[at.flags] = 2 | (bytes[at.flags]! & ~3) // "zero": the reader rebuilds prevHash as 32 zero bytes
      return out
    }
    // Another stream's ref (the creator's), with the true prevHash written out so nothing but
    // the ref is wrong: the rebuilt envelope names the creator's device and stream.
    const other = mirror.in.refs.findIndex(x => !equalBytes(x.def.subarray(AUTHOR_AT, AUTHOR_AT + 32), w.devicePublicKey))
    if (other < 0) throw new Error('test setup: the reader has no other stream on this connection')
    // Everything written out (flags 1: prevHash sent, seq and commitment too).
    const h = p.value.header
    return concat(
      bytes.subarray(0, at.ref), varUint(other), new Uint8Array([1]), varUint(h.seq), h.prevHash, h.nonce, h.commitment,
      varUint(p.value.ciphertext.length), p.value.ciphertext, p.value.signature, bytes.subarray(at.end)
    )
  }
  const r = await open(inv.value, proxy.url)
  await r.whenCaughtUp(5000)
  return { w, r, lied: () => lied, arm: () => { armed = true } }
}

describe('a relay that lies in compact frames', () => {
  it.each<Lie>(['swap-ref', 'flip-prev-mode'])('%s: caught by the rebuilt envelope\'s signature, nothing applied, read again intact', async (lie) => {
    const x = await world(lie)
    // One live entry first, so the writer's stream has a ref on the reader's connection.
    model.addNote(x.w.doc, 'before')
    await x.w.whenStored(5000)
    await waitFor(() => JSON.stringify(model.toJSON(x.r.doc)).includes('before'), 5000, 'the first note at the reader')
    const accepted = proxy!.accepted
    x.arm()
    model.addNote(x.w.doc, 'lied about')
    await x.w.whenStored(5000)
    await waitFor(() => JSON.stringify(model.toJSON(x.r.doc)).includes('lied about'), 15_000, 'the reader to read the entry again intact')
    expect(x.lied()).toBe(1)
    expect(x.r.alerts.map(a => a.code)).toContain('envelope/bad-signature')
    // It reconnected (fresh tables) to read it again, and both replicas are the same.
    expect(proxy!.accepted).toBeGreaterThan(accepted)
    expect(model.toJSON(x.r.doc)).toEqual(model.toJSON(x.w.doc))
  })
})
