import { describe, expect, it } from 'vitest'
import { acceptKeyChange, makeKeyChange, readKeyChange, winner } from '../../client/core/key-change.js'
import { open as openEnvelope } from '../../shared/envelope.js'
import { MsgType } from '../../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets, nextEpochSecrets } from '../../shared/keys.js'
import { NO_CERT } from '../../shared/sign.js'
import { getSodium } from '../../shared/sodium.js'

/** Issue 11, parts 2 and 3: the key change hands the next epoch's secrets to each kept device alone. */
describe('key change', () => {
  it('each kept device opens its own box and gets the announced keys; an editor stays an editor, a viewer a viewer; the removed one is told', async () => {
    const sodium = await getSodium()
    const s0 = newSpaceSecrets(sodium)
    const k0 = deriveKeys(sodium, s0)
    const dev = (): { publicKey: Uint8Array; privateKey: Uint8Array } => sodium.crypto_sign_keypair()
    const [a, b, c, v] = [dev(), dev(), dev(), dev()]
    const next = nextEpochSecrets(sodium, s0)
    const device = { ...a, cert: certifyDevice(sodium, k0, a.publicKey)! }
    const env = makeKeyChange(sodium, k0, device, next, [], [{ device: a.publicKey, role: 'edit' }, { device: b.publicKey, role: 'edit' }, { device: v.publicKey, role: 'view' }], [c.publicKey], 1)
    const got = (d: { publicKey: Uint8Array; privateKey: Uint8Array }) => acceptKeyChange(sodium, k0, env, d)
    const rb = got(b)
    expect(rb.ok && rb.value.kind === 'kept' && rb.value.secrets.epoch === 1 && rb.value.secrets.writeSeed !== undefined).toBe(true)
    if (rb.ok && rb.value.kind === 'kept') expect(Buffer.from(rb.value.secrets.secret)).toEqual(Buffer.from(next.secret))
    const rv = got(v)
    expect(rv.ok && rv.value.kind === 'kept' && rv.value.secrets.writeSeed === undefined).toBe(true)
    const rc = got(c)
    expect(rc.ok && rc.value.kind).toBe('removed')
    // The removed device cannot open anyone's box: nothing of epoch 1 is readable to it.
    const body = readKeyChange(openEnvelope(sodium, k0, env, { types: [MsgType.keyChange] }).ok ? (openEnvelope(sodium, k0, env, { types: [MsgType.keyChange] }) as { value: { plaintext: Uint8Array } }).value.plaintext : new Uint8Array())
    expect(body.ok).toBe(true)
    if (body.ok) for (const k of body.value.kept) expect(() => sodium.crypto_box_seal_open(k.box, sodium.crypto_sign_ed25519_pk_to_curve25519(c.publicKey), sodium.crypto_sign_ed25519_sk_to_curve25519(c.privateKey))).toThrow()
    // A key change from epoch 1 is not taken by a device still in epoch 0's keys... and vice versa.
    const k1 = deriveKeys(sodium, next)
    expect(acceptKeyChange(sodium, k1, env, b).ok).toBe(false)
    // A byte changed in transit: refused.
    const bad = env.slice()
    bad[bad.length - 100] = bad[bad.length - 100]! ^ 1
    expect(got(b).ok && !acceptKeyChange(sodium, k0, bad, b).ok).toBe(true)
    // Deterministic winner of two rivals.
    const env2 = makeKeyChange(sodium, k0, device, nextEpochSecrets(sodium, s0), [], [{ device: a.publicKey, role: 'edit' }], [], 2)
    expect(winner(sodium, env, env2)).toBe(winner(sodium, env2, env))
  })

  it('a viewer cannot seal one: its envelope carries no write certificate', async () => {
    const sodium = await getSodium()
    const s0 = newSpaceSecrets(sodium)
    const k0 = deriveKeys(sodium, s0)
    const v = sodium.crypto_sign_keypair()
    const env = makeKeyChange(sodium, k0, { ...v, cert: NO_CERT }, nextEpochSecrets(sodium, s0), [], [{ device: v.publicKey, role: 'edit' }], [], 1)
    const r = acceptKeyChange(sodium, k0, env, v)
    expect(r.ok ? 'ok' : r.code).toBe('envelope/bad-cert')
  })
})
