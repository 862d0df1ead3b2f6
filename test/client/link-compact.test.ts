import { beforeAll, describe, expect, it } from 'vitest'
import { RelayLink, type LinkMember } from '../../client/core/link.js'
import type { ConnectionHandlers, Transport } from '../../client/core/transport.js'
import { toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, seal, type Device } from '../../shared/envelope.js'
import { readFrame, writeFrame, type Frame } from '../../shared/frame.js'
import { MsgType } from '../../shared/header.js'
import type { SpaceKeys } from '../../shared/keys.js'
import { hash } from '../../shared/sign.js'
import type { Sodium } from '../../shared/sodium.js'
import * as wire from '../../shared/wire.js'
import { editMember } from '../support/member.js'

/**
 * The relay link's side of compact frames (shared/wire.ts, issue 10), over a fake transport: it
 * offers them in every hello, writes them only once the relay's challenge accepted, reads both
 * forms, treats a compact frame it cannot rebuild as a protocol error (and reconnects), and
 * starts every connection with empty tables in both directions.
 */
let sodium: Sodium
let keys: SpaceKeys
let device: Device

beforeAll(async () => { ({ sodium, keys, device } = await editMember()) })

interface Conn { readonly h: ConnectionHandlers; readonly sent: Uint8Array[]; closed: boolean }

function fakeTransport (): Transport & { conns: Conn[] } {
  const t = {
    conns: [] as Conn[],
    connect (_url: string, h: ConnectionHandlers) {
      const c: Conn = { h, sent: [], closed: false }
      t.conns.push(c)
      setTimeout(() => h.onOpen(), 0)
      return {
        send (data: Uint8Array) { c.sent.push(data.slice()) },
        close () { if (!c.closed) { c.closed = true; h.onClose('closed') } }
      }
    }
  }
  return t
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise(resolve => setTimeout(resolve, 5))
  expect(cond()).toBe(true)
}

function chain (n: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let prevHash: Uint8Array = GENESIS_HASH
  for (let seq = 0; seq < n; seq++) {
    const env = seal(sodium, keys, device, MsgType.update, { stream: new Uint8Array(8).fill(1), seq, prevHash }, new Uint8Array([seq]))
    out.push(env)
    prevHash = hash(sodium, env)
  }
  return out
}

describe('the relay link and compact frames', () => {
  it('offers, waits for the relay to accept, reads both forms, refuses what it cannot rebuild, and resets on reconnect', async () => {
    const t = fakeTransport()
    const link = new RelayLink('ws://r', t, { hash: env => hash(sodium, env), backoffBaseMs: 1, backoffMaxMs: 2 })
    const frames: Frame[] = []
    const errors: string[] = []
    const m: LinkMember = { spaceKey: toHex(keys.spaceId), onOpen () {}, onFrame: f => frames.push(f), onClose () {}, onProtocolError: code => errors.push(code) }
    link.add(m)
    await until(() => link.connected)
    const c1 = t.conns[0]!
    const envs = chain(6)
    const append = (reqId: number, envelope: Uint8Array): Frame => ({ type: 'append', reqId, spaceId: keys.spaceId, envelope })
    const challenge = writeFrame({ type: 'challenge', reqId: 1, spaceId: keys.spaceId, challenge: new Uint8Array(32), caps: wire.CAP_COMPACT })

    link.send({ type: 'hello', reqId: 1, spaceId: keys.spaceId })
    const hello = readFrame(c1.sent[0]!)
    expect(hello.ok && hello.value.type === 'hello' && hello.value.caps).toBe(wire.CAPS)
    // Not accepted yet: the old form.
    link.send(append(2, envs[0]!))
    expect(c1.sent[1]).toEqual(writeFrame(append(2, envs[0]!)))
    c1.h.onMessage(challenge)
    expect(frames.map(f => f.type)).toEqual(['challenge'])
    frames.length = 0
    link.send(append(3, envs[1]!))
    link.send(append(4, envs[2]!))
    // [type, reqId, ref, flags]: the first names its stream (bit 2) and sends prevHash (seq 1
    // follows nothing on the compact table), the next derives it.
    expect([...c1.sent[2]!.subarray(0, 4)]).toEqual([wire.WireType.appendC, 3, 0, 4 | 1])
    expect([...c1.sent[3]!.subarray(0, 4)]).toEqual([wire.WireType.appendC, 4, 0, 0])
    expect(c1.sent[3]!.length).toBeLessThan(envs[2]!.length - 150)

    // From the relay: compact entries rebuilt to the envelopes, old-form frames as before.
    const relaySide = wire.createSession(env => hash(sodium, env))
    relaySide.peerCompact = true
    const entries: Frame = { type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 7, envelope: envs[3]! }], head: 7, more: false }
    c1.h.onMessage(wire.writeWire(relaySide, entries))
    c1.h.onMessage(writeFrame({ type: 'ok', reqId: 4, spaceId: keys.spaceId, cursor: 7 }))
    expect(frames).toEqual([entries, { type: 'ok', reqId: 4, spaceId: keys.spaceId, cursor: 7 }])

    // A ref the relay never defined: a protocol error, nothing delivered, and a new connection.
    c1.h.onMessage(new Uint8Array([wire.WireType.entriesC, 0, 1, 8, 5, 0]))
    expect(errors).toEqual(['wire/unknown-ref'])
    expect(frames).toHaveLength(2)
    await until(() => t.conns.length === 2 && link.connected)
    expect(c1.closed).toBe(true)

    // The new connection's tables are empty both ways: the relay's ref 0 means nothing yet, and
    // our next append defines its stream again.
    const c2 = t.conns[1]!
    link.send({ type: 'hello', reqId: 5, spaceId: keys.spaceId })
    c2.h.onMessage(challenge)
    link.send(append(6, envs[4]!))
    expect([...c2.sent[1]!.subarray(0, 4)]).toEqual([wire.WireType.appendC, 6, 0, 4 | 1])
    const next: Frame = { type: 'entries', reqId: 0, spaceId: keys.spaceId, entries: [{ cursor: 9, envelope: envs[4]! }], head: 9, more: false }
    const stale = wire.writeWire(relaySide, next)
    expect(stale[4]).toBe(0) // ref 0, no definition: valid on the old connection only
    c2.h.onMessage(stale)
    expect(errors).toEqual(['wire/unknown-ref', 'wire/unknown-ref'])
    link.close()
  })
})
