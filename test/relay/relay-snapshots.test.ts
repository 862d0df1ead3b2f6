import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { GENESIS_HASH, seal, type Device } from '../../shared/envelope.js'
import type { Frame } from '../../shared/frame.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, type SpaceKeys } from '../../shared/keys.js'
import { attestMessage, certMessage, hash } from '../../shared/sign.js'
import { getSodium, randomBytes, type Sodium } from '../../shared/sodium.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, waitFor } from '../support/relay.js'

/**
 * Snapshot attestations and snapshot parts (issue 7), through a real relay (ws + SQLite) on
 * 127.0.0.1, driven frame by frame as a client would: no client code, so what is tested is the
 * relay's own rule, not a client's politeness.
 *
 * - The relay prunes the log under a snapshot only once a device other than its author attested
 *   it: a member's poisoned snapshot must never become the only copy of a space.
 * - A snapshot can be split into parts (MsgType.snapshotPart envelopes uploaded first), so one
 *   very large member update cannot stop compaction.
 *
 * The prune test can fail: run once with the attestation check removed from relay/core.ts
 * schedulePrune (pruning up to the newest snapshot's covers, attested or not:
 * `const attested = (await store.getSnapshots(spaceId, 1))[0]`), "nothing is pruned under an
 * unattested snapshot" failed right after the first prune pass with
 * `expected { rows: 2, prunedUpTo: 6 } to deeply equal { rows: 8, prunedUpTo: 0 }`: the author's
 * unverified snapshot had become the only copy of the six entries it claimed to cover.
 */
type Relay = Awaited<ReturnType<typeof startTestRelay>>

let sodium: Sodium
let relay: Relay | undefined
const raws: RawPeer[] = []
let lines: string[] = []

afterEach(async () => {
  for (const p of raws.splice(0)) p.ws.terminate()
  await relay?.close()
  relay = undefined
})

interface Member { readonly device: Device; readonly peer: RawPeer; readonly stream: Uint8Array; seq: number; prev: Uint8Array }
interface World { readonly keys: SpaceKeys; readonly a: Member; readonly b: Member; reqId: number }

async function raw (): Promise<RawPeer> {
  const p = await rawPeer(relay!.url)
  raws.push(p)
  return p
}

async function start (opts: Parameters<typeof startTestRelay>[0] = {}): Promise<World> {
  sodium = await getSodium()
  lines = []
  // Prune all a snapshot covers unless a test says otherwise (these tests are about which snapshot).
  relay = await startTestRelay({ pruneGraceMs: 30, pruneTailPercent: 0, log: line => lines.push(line), ...opts })
  const keys = deriveKeys(sodium, newSpaceSecrets(sodium))
  const creator = await raw()
  expect((await creator.create(sodium, keys.spaceId, keys.access, keys.write!)).type).toBe('ok')
  const member = async (): Promise<Member> => {
    const kp = sodium.crypto_sign_keypair()
    const peer = await raw()
    await peer.join(sodium, keys.spaceId, keys.access)
    return { device: { ...kp, cert: certifyDevice(sodium, keys, kp.publicKey)! }, peer, stream: randomBytes(8), seq: 0, prev: GENESIS_HASH }
  }
  return { keys, a: await member(), b: await member(), reqId: 100 }
}

/** Sends a request frame with a fresh reqId and resolves with the relay's answer to it (ok, error or data). */
async function ask (w: World, p: RawPeer, make: (reqId: number) => Frame): Promise<Frame> {
  const reqId = w.reqId++
  p.send(make(reqId))
  const seen = p.frames.length
  await waitFor(() => p.frames.slice(seen).some(f => 'reqId' in f && f.reqId === reqId && f.type !== 'entries') || p.isClosed, 10_000, `an answer to request ${reqId}`)
  const f = p.frames.slice(seen).find(f => 'reqId' in f && f.reqId === reqId && f.type !== 'entries')
  if (f === undefined) throw new Error(`socket closed without answering request ${reqId}`)
  return f
}

const codeOf = (f: Frame): string => f.type === 'error' ? f.code : f.type

async function append (w: World, m: Member, n: number): Promise<number> {
  let cursor = 0
  for (let i = 0; i < n; i++) {
    const env = seal(sodium, w.keys, m.device, MsgType.update, { stream: m.stream, seq: m.seq, prevHash: m.prev }, randomBytes(40))
    const r = await ask(w, m.peer, reqId => ({ type: 'append', reqId, spaceId: w.keys.spaceId, envelope: env }))
    if (r.type !== 'ok') throw new Error(`append refused: ${codeOf(r)}`)
    m.seq++
    m.prev = hash(sodium, env)
    cursor = r.cursor
  }
  return cursor
}

/** The snapshot chain as the author holds it: seq and prevHash of the next head. */
const chains = new WeakMap<World, { seq: number; prev: Uint8Array }>()

async function putSnapshot (w: World, m: Member, covers: number, parts: Uint8Array[] = []): Promise<{ hash: Uint8Array; id: number; envelope: Uint8Array }> {
  const c = chains.get(w) ?? { seq: 0, prev: GENESIS_HASH }
  const env = seal(sodium, w.keys, m.device, MsgType.snapshot, { stream: new Uint8Array(8), seq: c.seq, prevHash: c.prev }, randomBytes(64))
  const r = await ask(w, m.peer, reqId => ({ type: 'putSnapshot', reqId, spaceId: w.keys.spaceId, covers, envelope: env, parts }))
  if (r.type !== 'ok') throw new Error(`putSnapshot refused: ${codeOf(r)}`)
  const h = hash(sodium, env)
  chains.set(w, { seq: c.seq + 1, prev: h })
  return { hash: h, id: r.cursor, envelope: env }
}

function attestFrame (w: World, signer: { publicKey: Uint8Array; privateKey: Uint8Array }, cert: Uint8Array, snapshotHash: Uint8Array, reqId: number): Frame {
  const signature = sodium.crypto_sign_detached(attestMessage(w.keys.spaceId, snapshotHash), signer.privateKey)
  return { type: 'attest', reqId, spaceId: w.keys.spaceId, snapshotHash, device: signer.publicKey, cert, signature }
}

/** The relay's log rows for the space and how far it pruned, read straight from its SQLite file. */
function relayLog (w: World): { rows: number; prunedUpTo: number } {
  const db = new Database(path.join(relay!.dir, 'relay.sqlite'), { readonly: true })
  try {
    const rows = (db.prepare('SELECT count(*) AS n FROM log WHERE space = ?').get(w.keys.spaceId) as { n: number }).n
    const pruned = db.prepare('SELECT up_to FROM pruned WHERE space = ?').get(w.keys.spaceId) as { up_to: number } | undefined
    return { rows, prunedUpTo: pruned?.up_to ?? 0 }
  } finally {
    db.close()
  }
}

const prunes = (): number => lines.filter(l => l.startsWith('pruned ')).length

describe('snapshot attestations', () => {
  it('the author cannot attest its own snapshot; a view-only holder cannot attest; another member can, idempotently', async () => {
    const w = await start({ pruneGraceMs: 60_000 })
    await append(w, w.a, 3)
    const snap = await putSnapshot(w, w.a, 3)

    // The author, with a perfectly valid certificate and signature: refused, the socket stays.
    const own = await ask(w, w.a.peer, reqId => attestFrame(w, w.a.device, w.a.device.cert, snap.hash, reqId))
    expect(codeOf(own)).toBe('relay/own-snapshot')
    expect(w.a.peer.isClosed).toBe(false)

    // A view-only holder has K (so the access key) and write.pk, but no write key: no certificate
    // that verifies. Whatever it puts in the cert field is refused.
    const viewer = sodium.crypto_sign_keypair()
    const vp = await raw()
    await vp.join(sodium, w.keys.spaceId, w.keys.access)
    const forgedCerts = [
      new Uint8Array(64),
      sodium.crypto_sign_detached(certMessage(w.keys.spaceId, viewer.publicKey), viewer.privateKey),
      sodium.crypto_sign_detached(certMessage(w.keys.spaceId, viewer.publicKey), w.keys.access.privateKey)
    ]
    for (const cert of forgedCerts) {
      const r = await ask(w, vp, reqId => attestFrame(w, viewer, cert, snap.hash, reqId))
      expect(codeOf(r)).toBe('relay/bad-attestation')
    }
    // A certified device whose signature is over another snapshot (a replayed attestation).
    const other = randomBytes(32)
    const replayed = await ask(w, w.b.peer, reqId => ({ ...attestFrame(w, w.b.device, w.b.device.cert, other, reqId), snapshotHash: snap.hash }) as Frame)
    expect(codeOf(replayed)).toBe('relay/bad-attestation')
    // Another member's certificate, borrowed by someone who cannot sign for that device.
    const borrowed = await ask(w, vp, reqId => ({ ...attestFrame(w, viewer, w.b.device.cert, snap.hash, reqId), device: w.b.device.publicKey }) as Frame)
    expect(codeOf(borrowed)).toBe('relay/bad-attestation')
    // A snapshot the relay does not hold.
    const unknown = await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, other, reqId))
    expect(codeOf(unknown)).toBe('relay/unknown-snapshot')

    let list = await ask(w, w.a.peer, reqId => ({ type: 'listSnapshots', reqId, spaceId: w.keys.spaceId, limit: 10 }))
    expect(list.type === 'snapshots' && list.snapshots.map(x => x.attested)).toEqual([false])

    // Another certified member: accepted, the answer names the snapshot; again: still ok.
    for (let i = 0; i < 2; i++) {
      const r = await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, snap.hash, reqId))
      expect(r).toMatchObject({ type: 'ok', cursor: snap.id })
    }
    list = await ask(w, w.a.peer, reqId => ({ type: 'listSnapshots', reqId, spaceId: w.keys.spaceId, limit: 10 }))
    expect(list.type === 'snapshots' && list.snapshots.map(x => [x.id, x.attested])).toEqual([[snap.id, true]])
    for (const p of [w.a.peer, w.b.peer, vp]) expect(p.isClosed).toBe(false)
  })

  it('attesting before joining the space is refused and closes the socket', async () => {
    const w = await start({ pruneGraceMs: 60_000 })
    await append(w, w.a, 1)
    const snap = await putSnapshot(w, w.a, 1)
    const stranger = await raw()
    stranger.send(attestFrame(w, w.b.device, w.b.device.cert, snap.hash, 5))
    const e = await stranger.next('error', f => f.reqId === 5)
    expect(e.code).toBe('relay/not-joined')
    expect((await stranger.closed).reason).toBe('relay/not-joined')
  })

  it('nothing is pruned under an unattested snapshot; after another member attests it, the log it covers is pruned', async () => {
    const w = await start({ pruneGraceMs: 30 })
    await append(w, w.a, 4)
    const covers = await append(w, w.b, 2)
    await append(w, w.a, 2)
    const snap = await putSnapshot(w, w.a, covers)
    expect(relayLog(w)).toEqual({ rows: 8, prunedUpTo: 0 })

    // The prune pass runs (grace of 30 ms) but finds no attested snapshot: nothing goes.
    await waitFor(() => prunes() >= 1, 5000, 'a prune pass')
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(relayLog(w)).toEqual({ rows: 8, prunedUpTo: 0 })
    // The author's own attestation does not count.
    expect(codeOf(await ask(w, w.a.peer, reqId => attestFrame(w, w.a.device, w.a.device.cert, snap.hash, reqId)))).toBe('relay/own-snapshot')
    await new Promise(resolve => setTimeout(resolve, 150))
    expect(relayLog(w)).toEqual({ rows: 8, prunedUpTo: 0 })

    // Another member verified it: the attestation itself schedules the prune.
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, snap.hash, reqId)))).toBe('ok')
    await waitFor(() => relayLog(w).prunedUpTo === covers, 5000, 'the prune under the attested snapshot')
    expect(relayLog(w)).toEqual({ rows: 2, prunedUpTo: covers })

    // A newer, unattested snapshot does not move the bound, however long one waits.
    await new Promise(resolve => setTimeout(resolve, 100))
    const later = await append(w, w.a, 2)
    const before = prunes()
    await putSnapshot(w, w.a, later)
    await waitFor(() => prunes() > before, 5000, 'another prune pass')
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(relayLog(w)).toEqual({ rows: 4, prunedUpTo: covers })
  })

  it('the prune keeps the newest entries under the snapshot up to its size; a member back from inside that tail reads it, not the snapshot', async () => {
    const w = await start({ pruneGraceMs: 30, pruneTailPercent: 300 })
    await append(w, w.a, 6)
    const covers = await append(w, w.b, 4)
    const snap = await putSnapshot(w, w.a, covers)
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, snap.hash, reqId)))).toBe('ok')
    await waitFor(() => relayLog(w).prunedUpTo > 0, 5000, 'the prune under the attested snapshot')
    // What stays is the newest entries whose bytes fit in 3 × the snapshot's, and nothing older.
    const db = new Database(path.join(relay!.dir, 'relay.sqlite'), { readonly: true })
    let kept: { cursor: number; n: number }[]
    try {
      kept = db.prepare('SELECT cursor, length(env) AS n FROM log WHERE space = ? ORDER BY cursor').all(w.keys.spaceId) as { cursor: number; n: number }[]
    } finally { db.close() }
    const budget = 3 * snap.envelope.length
    const keptBytes = kept.reduce((a, r) => a + r.n, 0)
    expect(kept.length).toBeGreaterThan(0)
    expect(kept.length).toBeLessThan(10)
    expect(keptBytes).toBeLessThanOrEqual(budget)
    // One more (the newest pruned one) would not have fitted.
    expect(keptBytes + kept[0]!.n).toBeGreaterThan(budget)
    const { prunedUpTo } = relayLog(w)
    expect(kept[0]!.cursor).toBeGreaterThan(prunedUpTo)
    expect(kept[kept.length - 1]!.cursor).toBe(covers)

    // Back from inside the tail: the entries it lacks, no snapshot.
    const back = await raw()
    await back.join(sodium, w.keys.spaceId, w.keys.access, prunedUpTo)
    await waitFor(() => back.frames.some(f => f.type === 'entries' && !f.more && f.entries.length === 0), 5000, 'caught up')
    expect(back.frames.filter(f => f.type === 'snapshots')).toEqual([])
    expect(back.frames.flatMap(f => f.type === 'entries' ? f.entries.map(e => e.cursor) : [])).toEqual(kept.map(r => r.cursor))
    // From below it (or cold): the snapshot, then what follows it.
    const behind = await raw()
    await behind.join(sodium, w.keys.spaceId, w.keys.access, prunedUpTo - 1)
    await waitFor(() => behind.frames.some(f => f.type === 'snapshots'), 5000, 'the snapshot')
  })

  it('with no attested snapshot a joiner gets no snapshot at all but the whole log (one member\'s word is not served)', async () => {
    const w = await start({ pruneGraceMs: 30 })
    const c1 = await append(w, w.a, 3)
    await putSnapshot(w, w.a, c1)
    await new Promise(resolve => setTimeout(resolve, 200))
    const joiner = await raw()
    await joiner.join(sodium, w.keys.spaceId, w.keys.access)
    expect(joiner.frames.filter(f => f.type === 'snapshots')).toEqual([])
    const got = joiner.frames.flatMap(f => f.type === 'entries' ? f.entries.map(e => e.cursor) : [])
    expect(got).toHaveLength(3)
    expect(got[got.length - 1]).toBe(c1)
  })

  it('a joiner gets the newest attested snapshot, not a newer unattested one, then every entry after it', async () => {
    const w = await start({ pruneGraceMs: 30 })
    const c1 = await append(w, w.a, 3)
    const s1 = await putSnapshot(w, w.a, c1)
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, s1.hash, reqId)))).toBe('ok')
    await waitFor(() => relayLog(w).prunedUpTo === c1, 5000, 'the prune under s1')
    const c2 = await append(w, w.a, 3)
    // Possibly poisoned: only its author vouches for it.
    const s2 = await putSnapshot(w, w.a, c2)
    const tail = await append(w, w.b, 1)

    const joiner = await raw()
    await joiner.join(sodium, w.keys.spaceId, w.keys.access)
    const snaps = joiner.frames.filter(f => f.type === 'snapshots')
    expect(snaps.map(f => f.type === 'snapshots' && f.snapshots.map(x => [x.id, x.covers, x.attested]))).toEqual([[[s1.id, c1, true]]])
    const got = joiner.frames.flatMap(f => f.type === 'entries' ? f.entries.map(e => e.cursor) : [])
    expect(got[0]).toBeGreaterThan(c1)
    expect(got).toHaveLength(4)
    expect(got[got.length - 1]).toBe(tail)
    // History still lists both, newest first, with their flags.
    const list = await ask(w, joiner, reqId => ({ type: 'listSnapshots', reqId, spaceId: w.keys.spaceId, limit: 10 }))
    expect(list.type === 'snapshots' && list.snapshots.map(x => [x.id, x.attested])).toEqual([[s2.id, false], [s1.id, true]])

    // Once s2 is attested too, it is what joiners get.
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, s2.hash, reqId)))).toBe('ok')
    const next = await raw()
    await next.join(sodium, w.keys.spaceId, w.keys.access)
    const first = next.frames.find(f => f.type === 'snapshots')
    expect(first?.type === 'snapshots' && first.snapshots.map(x => [x.id, x.attested])).toEqual([[s2.id, true]])
  })

  it('dropping old snapshots keeps the newest attested one', async () => {
    const w = await start({ pruneGraceMs: 30, keepSnapshots: 1 })
    const s1 = await putSnapshot(w, w.a, await append(w, w.a, 1))
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, s1.hash, reqId)))).toBe('ok')
    const s2 = await putSnapshot(w, w.a, await append(w, w.a, 1))
    const s3 = await putSnapshot(w, w.a, await append(w, w.a, 1))
    // Let the passes already scheduled run, then make sure one more runs with s3 stored (attesting
    // again is ok, and schedules a pass).
    await new Promise(resolve => setTimeout(resolve, 150))
    const before = prunes()
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, s1.hash, reqId)))).toBe('ok')
    await waitFor(() => prunes() > before, 5000, 'a prune pass')
    const list = await ask(w, w.a.peer, reqId => ({ type: 'listSnapshots', reqId, spaceId: w.keys.spaceId, limit: 10 }))
    expect(list.type === 'snapshots' && list.snapshots.map(x => x.id)).toEqual([s3.id, s2.id, s1.id])
  })
})

describe('snapshot parts', () => {
  const sealPart = (w: World, m: Member, seq: number, body: Uint8Array): Uint8Array =>
    seal(sodium, w.keys, m.device, MsgType.snapshotPart, { stream: m.stream, seq, prevHash: GENESIS_HASH }, body)

  it('a 3-part snapshot round-trips: parts uploaded, head put naming them, a joiner fetches each', async () => {
    const w = await start({ pruneGraceMs: 60_000 })
    const covers = await append(w, w.a, 2)
    // Three chunks of 4 MiB, as the client seals a state too large for one envelope.
    const parts = [0, 1, 2].map(i => sealPart(w, w.a, i, randomBytes(4 * 1024 * 1024 - 64)))
    const hashes = parts.map(p => hash(sodium, p))

    const putPart = async (env: Uint8Array): Promise<string> => codeOf(await ask(w, w.a.peer, reqId => ({ type: 'putSnapshotPart', reqId, spaceId: w.keys.spaceId, envelope: env })))
    for (const p of parts.slice(0, 2)) expect(await putPart(p)).toBe('ok')
    // The head is refused while a part it names is not there (and nothing is stored)...
    const headEnv = seal(sodium, w.keys, w.a.device, MsgType.snapshot, { stream: new Uint8Array(8), seq: 0, prevHash: GENESIS_HASH }, randomBytes(200))
    const putHead = async (): Promise<string> => codeOf(await ask(w, w.a.peer, reqId => ({ type: 'putSnapshot', reqId, spaceId: w.keys.spaceId, covers, envelope: headEnv, parts: hashes })))
    expect(await putHead()).toBe('relay/missing-part')
    expect(w.a.peer.isClosed).toBe(false)
    // ...and accepted once it is. A part sent again (after a lost ack) is ok too.
    expect(await putPart(parts[2]!)).toBe('ok')
    expect(await putPart(parts[0]!)).toBe('ok')
    expect(await putHead()).toBe('ok')
    // Joiners are served attested snapshots only: another member vouches for this one.
    expect(codeOf(await ask(w, w.b.peer, reqId => attestFrame(w, w.b.device, w.b.device.cert, hash(sodium, headEnv), reqId)))).toBe('ok')

    // A joiner (any member, even view-only: it holds the access key) gets the head, then each part.
    const joiner = await raw()
    await joiner.join(sodium, w.keys.spaceId, w.keys.access)
    const head = joiner.frames.find(f => f.type === 'snapshots')
    expect(head?.type === 'snapshots' && Buffer.from(head.snapshots[0]!.envelope).equals(Buffer.from(headEnv))).toBe(true)
    // Asked for all at once: answered one by one as the socket drains, each exact.
    for (const [i, h] of hashes.entries()) joiner.send({ type: 'getSnapshotPart', reqId: 500 + i, spaceId: w.keys.spaceId, hash: h })
    for (const [i, p] of parts.entries()) {
      const got = await joiner.next('snapshotPart', f => f.reqId === 500 + i, 20_000)
      expect(Buffer.from(got.envelope).equals(Buffer.from(p))).toBe(true)
      expect(Buffer.from(hash(sodium, got.envelope)).equals(Buffer.from(hashes[i]!))).toBe(true)
    }
    const unknown = await ask(w, joiner, reqId => ({ type: 'getSnapshotPart', reqId, spaceId: w.keys.spaceId, hash: randomBytes(32) }))
    expect(codeOf(unknown)).toBe('relay/unknown-part')
    expect(joiner.isClosed).toBe(false)
  }, 60_000)

  it('a part is checked like a snapshot: certified writer, signed, right space and type', async () => {
    const w = await start({ pruneGraceMs: 60_000 })
    const viewer = sodium.crypto_sign_keypair()
    const forged: Device = { ...viewer, cert: sodium.crypto_sign_detached(certMessage(w.keys.spaceId, viewer.publicKey), viewer.privateKey) }
    const cases: Array<{ what: string; env: Uint8Array; code: string }> = [
      { what: 'a part by a device without a write certificate', env: seal(sodium, w.keys, forged, MsgType.snapshotPart, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, randomBytes(100)), code: 'envelope/bad-cert' },
      { what: 'an update envelope as a part', env: seal(sodium, w.keys, w.a.device, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, randomBytes(100)), code: 'relay/wrong-space-or-type' },
      { what: 'a part of another space', env: (() => { const k = deriveKeys(sodium, newSpaceSecrets(sodium)); const d = sodium.crypto_sign_keypair(); return seal(sodium, k, { ...d, cert: certifyDevice(sodium, k, d.publicKey)! }, MsgType.snapshotPart, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, randomBytes(100)) })(), code: 'relay/wrong-space-or-type' },
      { what: 'a part with one ciphertext byte changed', env: (() => { const e = sealPart(w, w.a, 0, randomBytes(100)); e[300]! ^= 1; return e })(), code: 'envelope/bad-signature' }
    ]
    for (const c of cases) {
      const p = await raw()
      await p.join(sodium, w.keys.spaceId, w.keys.access)
      p.send({ type: 'putSnapshotPart', reqId: 9, spaceId: w.keys.spaceId, envelope: c.env })
      const e = await p.next('error', f => f.reqId === 9)
      expect(e.code, c.what).toBe(c.code)
      expect((await p.closed).reason, c.what).toBe(c.code)
    }
    // Nothing was stored.
    const db = new Database(path.join(relay!.dir, 'relay.sqlite'), { readonly: true })
    try {
      expect((db.prepare('SELECT count(*) AS n FROM parts').get() as { n: number }).n).toBe(0)
    } finally {
      db.close()
    }
    // And the well-behaved members were not disturbed.
    expect(w.a.peer.isClosed || w.b.peer.isClosed).toBe(false)
  })

  it('pending parts are capped per space (relay/quota); stale ones are dropped to make room', async () => {
    const w = await start({ pruneGraceMs: 60_000, maxPendingPartBytes: 20_000, pendingPartTtlMs: 300 })
    // About 8.5 KB each once sealed and padded: two fit under 20 000 bytes, three do not.
    const big = [0, 1, 2, 3].map(i => sealPart(w, w.a, i, randomBytes(8000)))
    const put = async (env: Uint8Array): Promise<string> => codeOf(await ask(w, w.a.peer, reqId => ({ type: 'putSnapshotPart', reqId, spaceId: w.keys.spaceId, envelope: env })))
    expect(await put(big[0]!)).toBe('ok')
    expect(await put(big[1]!)).toBe('ok')
    expect(await put(big[2]!)).toBe('relay/quota')
    expect(w.a.peer.isClosed).toBe(false)
    // Once the unlinked ones are older than the TTL, a new part makes room by dropping them.
    await new Promise(resolve => setTimeout(resolve, 400))
    const fresh = big[3]!
    expect(await put(fresh)).toBe('ok')
    const gone = await ask(w, w.a.peer, reqId => ({ type: 'getSnapshotPart', reqId, spaceId: w.keys.spaceId, hash: hash(sodium, big[0]!) }))
    expect(codeOf(gone)).toBe('relay/unknown-part')
    expect(codeOf(await ask(w, w.a.peer, reqId => ({ type: 'getSnapshotPart', reqId, spaceId: w.keys.spaceId, hash: hash(sodium, fresh) })))).toBe('snapshotPart')
  })
})
