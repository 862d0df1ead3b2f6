import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeBatch } from '../../client/core/apply.js'
import type { Client } from '../../client/core/client.js'
import { equalBytes } from '../../shared/bytes.js'
import { GENESIS_HASH, open, seal, type Device } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, parseLink, type SpaceKeys } from '../../shared/keys.js'
import { isNoCert, NO_CERT } from '../../shared/sign.js'
import { getSodium, randomBytes, type Sodium } from '../../shared/sodium.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, testClient } from '../support/relay.js'

/**
 * A view-only device may say it is here (issue 8 item 8): its presence envelope carries 64 zero
 * bytes in place of a write certificate and is checked on its device signature alone, by the relay
 * and by clients. That door opens for presence only: the same uncertified key can still append
 * nothing, and accepting its presence never counts as having verified a certificate for it.
 */
let sodium: Sodium
let relay: Awaited<ReturnType<typeof startTestRelay>>
let client: Client
let keys: SpaceKeys
const raws: RawPeer[] = []

beforeAll(async () => {
  sodium = await getSodium()
  relay = await startTestRelay()
  client = await testClient()
  const { editLink } = await client.createSpace(relay.url, 'presence')
  const inv = parseLink(sodium, editLink)
  if (!inv.ok) throw new Error(inv.message)
  keys = deriveKeys(sodium, inv.value.secrets)
})
afterAll(async () => {
  for (const r of raws) r.close()
  await client.close()
  await relay.close()
})

const joined = async (): Promise<RawPeer> => {
  const p = await rawPeer(relay.url)
  raws.push(p)
  await p.join(sodium, keys.spaceId, keys.access)
  return p
}
const viewer = (): Device => ({ ...sodium.crypto_sign_keypair(), cert: NO_CERT })
const presence = (device: Device, seq = 1): Uint8Array =>
  seal(sodium, keys, device, MsgType.presence, { stream: randomBytes(8), seq, prevHash: GENESIS_HASH }, new TextEncoder().encode('{}'))

describe('presence of view-only devices', () => {
  it('the relay forwards an uncertified presence and announces its device when it goes', async () => {
    const watcher = await joined()
    const reader = await joined()
    const v = viewer()
    const env = presence(v)
    reader.send({ type: 'presence', spaceId: keys.spaceId, envelope: env })
    const got = await watcher.next('presenceOut')
    expect(equalBytes(got.envelope, env)).toBe(true)
    reader.close()
    const left = await watcher.next('peerLeft')
    expect(equalBytes(left.author, v.publicKey)).toBe(true)
  })

  it('an uncertified key still appends nothing, before or after its presence was accepted', async () => {
    const p = await joined()
    const v = viewer()
    p.send({ type: 'presence', spaceId: keys.spaceId, envelope: presence(v) })
    const update = seal(sodium, keys, v, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, writeBatch([new Uint8Array([0, 0])]))
    p.send({ type: 'append', reqId: 9, spaceId: keys.spaceId, envelope: update })
    const e = await p.next('error', f => f.reqId === 9)
    expect(e.code).toBe('envelope/bad-cert')
    await p.closed
  })

  it('a presence with a certificate that does not verify is refused, and so is a bad device signature', async () => {
    const p = await joined()
    const bogus = { ...sodium.crypto_sign_keypair(), cert: new Uint8Array(64).fill(7) }
    p.send({ type: 'presence', spaceId: keys.spaceId, envelope: presence(bogus) })
    expect((await p.next('error')).code).toBe('envelope/bad-cert')
    const q = await joined()
    const env = presence(viewer())
    env[env.length - 1]! ^= 1
    q.send({ type: 'presence', spaceId: keys.spaceId, envelope: env })
    expect((await q.next('error')).code).toBe('envelope/bad-signature')
  })

  it('clients open an uncertified envelope only as presence, and only when asked to', () => {
    const v = viewer()
    const env = presence(v)
    const opened = open(sodium, keys, env, { types: [MsgType.presence], uncertifiedPresence: true })
    expect(opened.ok && isNoCert(opened.value.header.cert)).toBe(true)
    expect(open(sodium, keys, env, { types: [MsgType.presence] })).toMatchObject({ ok: false, code: 'envelope/bad-cert' })
    const update = seal(sodium, keys, v, MsgType.update, { stream: randomBytes(8), seq: 0, prevHash: GENESIS_HASH }, new Uint8Array(4))
    expect(open(sodium, keys, update, { types: [MsgType.update], uncertifiedPresence: true })).toMatchObject({ ok: false, code: 'envelope/bad-cert' })
    // A certified editor's presence opens with the option as well, and is not taken for a viewer's.
    const editor = sodium.crypto_sign_keypair()
    const certified = presence({ ...editor, cert: certifyDevice(sodium, keys, editor.publicKey)! })
    const o = open(sodium, keys, certified, { types: [MsgType.presence], uncertifiedPresence: true })
    expect(o.ok && isNoCert(o.value.header.cert)).toBe(false)
  })
})
