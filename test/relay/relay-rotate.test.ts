import { afterEach, describe, expect, it } from 'vitest'
import { makeKeyChange } from '../../client/core/key-change.js'
import { GENESIS_HASH, seal } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, nextEpochSecrets, publicKeysOf, type SpaceKeys } from '../../shared/keys.js'
import { signRotate } from '../../shared/rotate-proof.js'
import { authMessage, hash } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay } from '../support/relay.js'

/**
 * Issue 11, the relay's side of a rotation, over a real socket: the move to a new epoch is a
 * compare-and-set signed by the current write key; after it the old access key is not admitted
 * (it is told what replaced it), old certificates write nothing, and a connection joined before
 * receives the key change and then nothing more.
 */
const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

async function peer (url: string): Promise<RawPeer> {
  const p = await rawPeer(url)
  cleanup.push(() => p.close())
  return p
}

function update (sodium: Sodium, keys: SpaceKeys, dev: { publicKey: Uint8Array; privateKey: Uint8Array }, stream: number): Uint8Array {
  const cert = certifyDevice(sodium, keys, dev.publicKey) ?? new Uint8Array(64)
  return seal(sodium, keys, { ...dev, cert }, MsgType.update, { stream: new Uint8Array(8).fill(stream), seq: 0, prevHash: GENESIS_HASH }, new Uint8Array([0]))
}

describe('relay rotation', () => {
  it('moves the space to epoch 1 once, refuses the old keys after, and tells a stale joiner what replaced them', async () => {
    const sodium = await getSodium()
    const relay = await startTestRelay()
    cleanup.push(() => relay.close())
    const s0 = newSpaceSecrets(sodium)
    const k0 = deriveKeys(sodium, s0)
    const creator = await peer(relay.url)
    expect((await creator.create(sodium, k0.spaceId, k0.access, k0.write!)).type).toBe('ok')
    await creator.join(sodium, k0.spaceId, k0.access)
    const removed = await peer(relay.url)
    await removed.join(sodium, k0.spaceId, k0.access)

    const a = sodium.crypto_sign_keypair()
    const gone = sodium.crypto_sign_keypair()
    const s1 = nextEpochSecrets(sodium, s0)
    const kc = makeKeyChange(sodium, k0, { ...a, cert: certifyDevice(sodium, k0, a.publicKey)! }, s1, [], [{ device: a.publicKey, role: 'edit' }], [gone.publicKey], Date.now())
    const pub = publicKeysOf(sodium, s1)
    const sig = signRotate(sodium, k0.spaceId, 1, pub.accessPk, pub.writePk, hash(sodium, kc), k0.write!.privateKey)
    // A wrong signature (the new write key's, not the current one's) closes the socket.
    const forger = await peer(relay.url)
    await forger.join(sodium, k0.spaceId, k0.access)
    const k1 = deriveKeys(sodium, s1)
    forger.send({ type: 'rotate', reqId: 50, spaceId: k0.spaceId, epoch: 1, ...pub, signature: signRotate(sodium, k0.spaceId, 1, pub.accessPk, pub.writePk, hash(sodium, kc), k1.write!.privateKey), keyChange: kc })
    expect((await forger.next('error', f => f.reqId === 50)).code).toBe('relay/bad-rotate')

    creator.send({ type: 'rotate', reqId: 51, spaceId: k0.spaceId, epoch: 1, ...pub, signature: sig, keyChange: kc })
    expect((await creator.next('ok', f => f.reqId === 51)).cursor).toBe(1)
    const pushed = await removed.next('keyChanges', f => f.reqId === 0)
    expect(Buffer.from(pushed.envelopes[0]!)).toEqual(Buffer.from(kc))
    const framesBefore = removed.frames.length

    // A second rotation from epoch 0 (a rival) loses.
    const rival = nextEpochSecrets(sodium, s0)
    const kc2 = makeKeyChange(sodium, k0, { ...a, cert: certifyDevice(sodium, k0, a.publicKey)! }, rival, [], [{ device: a.publicKey, role: 'edit' }], [], Date.now())
    const pub2 = publicKeysOf(sodium, rival)
    const late = await peer(relay.url)
    await late.join(sodium, k1.spaceId, k1.access)
    late.send({ type: 'rotate', reqId: 52, spaceId: k0.spaceId, epoch: 1, ...pub2, signature: signRotate(sodium, k0.spaceId, 1, pub2.accessPk, pub2.writePk, hash(sodium, kc2), k0.write!.privateKey), keyChange: kc2 })
    expect((await late.next('error', f => f.reqId === 52)).code).toBe('envelope/bad-cert')

    // The new epoch works: a device certified by the new write key appends; the old-epoch joiner hears nothing of it.
    const fresh = await peer(relay.url)
    await fresh.join(sodium, k1.spaceId, k1.access)
    fresh.send({ type: 'append', reqId: 53, spaceId: k1.spaceId, envelope: update(sodium, k1, a, 1) })
    expect((await fresh.next('ok', f => f.reqId === 53)).type).toBe('ok')
    // An old certificate writes nothing, even on a connection admitted with the new access key.
    const old = await peer(relay.url)
    await old.join(sodium, k1.spaceId, k1.access)
    old.send({ type: 'append', reqId: 54, spaceId: k1.spaceId, envelope: update(sodium, k0, gone, 2) })
    expect((await old.next('error', f => f.reqId === 54)).code).toBe('envelope/bad-cert')
    await new Promise(resolve => setTimeout(resolve, 100))
    expect(removed.frames.slice(framesBefore).map(f => f.type)).toEqual([])
    // The removed connection is no longer joined: its writes are refused.
    removed.send({ type: 'append', reqId: 55, spaceId: k0.spaceId, envelope: update(sodium, k0, gone, 3) })
    expect((await removed.next('error', f => f.reqId === 55)).code).toBe('relay/not-joined')

    // The old access key is refused, with the key change that replaced it.
    const stale = await peer(relay.url)
    stale.send({ type: 'hello', reqId: 60, spaceId: k0.spaceId })
    const ch = await stale.next('challenge', f => f.reqId === 60)
    stale.send({ type: 'auth', reqId: 61, spaceId: k0.spaceId, signature: sodium.crypto_sign_detached(authMessage(k0.spaceId, ch.challenge), k0.access.privateKey), after: 0 })
    const told = await stale.next('keyChanges', f => f.reqId === 61)
    expect(told.envelopes.length).toBe(1)
    const refused = await stale.next('error', f => f.reqId === 61)
    expect([refused.code, refused.message]).toEqual(['relay/epoch-replaced', 'this link was replaced; ask a member for a new one'])
    expect(stale.isClosed).toBe(false)
  })
})
