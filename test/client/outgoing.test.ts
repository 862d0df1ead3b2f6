import { beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Outgoing, type OutgoingHost } from '../../client/core/outgoing.js'
import { StreamWriter } from '../../client/core/writer.js'
import type { Frame } from '../../shared/frame.js'
import type { Device } from '../../shared/envelope.js'
import type { SpaceKeys } from '../../shared/keys.js'
import type { Sodium } from '../../shared/sodium.js'
import { editMember } from '../support/member.js'

/**
 * The sending side (client/core/outgoing.ts) with a real StreamWriter and a host that records what
 * it is asked to do: batching is clocked by acks, so every answer that ends an envelope's flight
 * must let the edits gathered behind it go.
 */
let sodium: Sodium
let keys: SpaceKeys
let device: Device

beforeAll(async () => { ({ sodium, keys, device } = await editMember()) })

function edit (text: string): Uint8Array {
  const d = new Y.Doc()
  let u: Uint8Array | undefined
  d.on('update', (x: Uint8Array) => { u = x })
  d.getText('t').insert(0, text)
  return u!
}

function session (writer: StreamWriter, stored: () => Promise<void> = async () => {}, batchMs = 10): { out: Outgoing; sent: Frame[]; sealed: Uint8Array[][] } {
  const sent: Frame[] = []
  const sealed: Uint8Array[][] = []
  let req = 0
  const host: OutgoingHost = {
    writer,
    spaceId: keys.spaceId,
    joined: () => true,
    closed: () => false,
    send: f => { sent.push(f); return true },
    nextReqId: () => ++req,
    reconnect: () => {},
    alert: () => {},
    compact: () => undefined,
    sealed: async updates => { sealed.push([...updates]); await stored() },
    persist: async () => {},
    acked: () => {},
    statusChanged: () => {}
  }
  return { out: new Outgoing(host, { batchMs, maxInflight: 4, ackTimeoutMs: 60_000 }), sent, sealed }
}

const macrotask = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

describe('Outgoing', () => {
  it('an edit gathered while an earlier session\'s envelope was in flight is sealed when that envelope is refused for good, not left waiting for an ack', async () => {
    // Session 1 sealed one envelope and crashed; session 2 sends it again.
    const before = new StreamWriter(sodium, keys, device)
    const old = before.seal([edit('a')])
    const writer = new StreamWriter(sodium, keys, device)
    writer.restore([old.env])
    const s = session(writer)
    s.out.pump()
    const resend = s.sent.find(f => f.type === 'append')
    expect(resend).toBeDefined()
    // An edit now waits for that envelope's ack (batching is clocked by acks).
    s.out.local(edit('b'))
    await macrotask()
    expect(s.sealed).toHaveLength(0)
    // Meanwhile another member was seen holding it (it leaves the outbox), and the relay refuses
    // the resend as pruned under a snapshot: nothing is re-sealed, and no ack will ever come.
    writer.seen(old.stream, old.seq)
    expect(s.out.onError((resend as { reqId: number }).reqId, 'store/pruned', 'pruned')).toBe(true)
    await macrotask()
    expect(s.sealed).toHaveLength(1)
    expect(s.out.unsynced).toBe(1)
    await macrotask()
    expect(s.sent.filter(f => f.type === 'append')).toHaveLength(2)
  })

  it('edits gathered behind an envelope in flight are sealed within its ack, not a macrotask later behind the other messages that came with it', async () => {
    const writer = new StreamWriter(sodium, keys, device)
    const s = session(writer)
    s.out.local(edit('a'))
    await macrotask()
    const first = s.sent.find(f => f.type === 'append') as { reqId: number } | undefined
    expect(first).toBeDefined()
    s.out.local(edit('b'))
    s.out.local(edit('c'))
    await macrotask()
    expect(s.sealed).toHaveLength(1)
    s.out.onAck(first!.reqId, 1)
    // Synchronously, in the ack's own handler: both gathered edits as one envelope.
    expect(s.sealed).toHaveLength(2)
    expect(s.sealed[1]).toHaveLength(1)
  })

  it('a burst (edits faster than typing, gathered by the dozen behind each ack) goes one envelope per batchMs, not one per round trip; a typist\'s few gathered edits still go within the ack', async () => {
    const writer = new StreamWriter(sodium, keys, device)
    // A long batchMs, so that a slow machine's pauses between the steps stay inside it.
    const s = session(writer, undefined, 200)
    const burst = Array.from({ length: 40 }, (_, i) => edit(`x${i}`))
    const sealedAt: number[] = []
    const seal = writer.seal.bind(writer)
    writer.seal = updates => { sealedAt.push(Date.now()); return seal(updates) }
    const ackLast = (): void => {
      const last = s.sent.filter(f => f.type === 'append').at(-1) as { reqId: number }
      s.out.onAck(last.reqId, s.sealed.length)
    }
    s.out.local(edit('a'))
    await macrotask()
    expect(s.sealed).toHaveLength(1)
    // A typist: two edits behind the envelope in flight go within its ack.
    s.out.local(edit('b'))
    s.out.local(edit('c'))
    await macrotask()
    ackLast()
    expect(s.sealed).toHaveLength(2)
    await macrotask()
    // A script: 40 edits behind the next one wait until batchMs after the last seal.
    for (const u of burst) s.out.local(u)
    ackLast()
    expect(s.sealed).toHaveLength(2)
    await macrotask()
    expect(s.sealed).toHaveLength(2)
    // More gathered meanwhile join the same envelope.
    s.out.local(edit('y'))
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(s.sealed).toHaveLength(2)
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(s.sealed).toHaveLength(3)
    expect(s.sealed[2]).toHaveLength(1)
    expect(sealedAt[2]! - sealedAt[1]!).toBeGreaterThanOrEqual(195)
  })

  it('an envelope is sent without waiting for its store write (a slow IndexedDB), and gathering waits for that write', async () => {
    let finish!: () => void
    const write = new Promise<void>(resolve => { finish = resolve })
    const s = session(new StreamWriter(sodium, keys, device), () => write)
    s.out.local(edit('a'))
    await macrotask()
    expect(s.sent.filter(f => f.type === 'append')).toHaveLength(1)
    s.out.onAck((s.sent[0] as { reqId: number }).reqId, 1)
    s.out.local(edit('b'))
    await macrotask()
    expect(s.sealed).toHaveLength(1)
    finish()
    await macrotask()
    await macrotask()
    expect(s.sealed).toHaveLength(2)
    expect(s.sent.filter(f => f.type === 'append')).toHaveLength(2)
  })
})
