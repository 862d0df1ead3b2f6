import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { fromB64u, toB64u } from '../../shared/bytes.js'
import { KEY_ID_BYTES } from '../../shared/header.js'
import { certifyDevice, deriveKeys, formatLink, newSpaceSecrets, parseLink, relayWsUrl, type SpaceSecrets } from '../../shared/keys.js'
import { checkCreate, signCreate, spaceIdOf } from '../../shared/create-proof.js'
import { certMessage, verifyDetached } from '../../shared/sign.js'
import { getSodium, type Sodium } from '../../shared/sodium.js'
import { testSeed } from '../support/prng.js'

const seed = testSeed('keys')
let sodium: Sodium
let secrets: SpaceSecrets
beforeAll(async () => {
  sodium = await getSodium()
  secrets = { ...newSpaceSecrets(sodium), epoch: 3 }
})

const ORIGIN = 'https://cove.example:8443'

function viewOnly (s: SpaceSecrets): SpaceSecrets {
  const { writeSeed: _, ...rest } = s
  return rest
}

/** The payload after `#edit1.` / `#view1.`. */
function payload (link: string): string {
  return link.slice(link.indexOf('#') + 7)
}

describe('deriveKeys', () => {
  it('is deterministic and gives each purpose its own key', () => {
    const a = deriveKeys(sodium, secrets)
    const b = deriveKeys(sodium, { ...secrets })
    expect(a).toEqual(b)
    expect(a.keyId.length).toBe(KEY_ID_BYTES)
    const subkeys = [a.contentKey, a.presenceKey, a.blobKey, a.access.privateKey.subarray(0, 32), secrets.secret].map(toB64u)
    expect(new Set(subkeys).size).toBe(subkeys.length)
    // Another epoch secret, another key id: keys of different epochs are told apart before any crypto.
    expect(toB64u(deriveKeys(sodium, { ...secrets, secret: sodium.crypto_kdf_keygen() }).keyId)).not.toBe(toB64u(a.keyId))
  })

  it('only holders of the write seed can certify devices, and certificates verify against writePk', () => {
    const full = deriveKeys(sodium, secrets)
    const dev = sodium.crypto_sign_keypair()
    const cert = certifyDevice(sodium, full, dev.publicKey)
    expect(cert).toBeDefined()
    expect(verifyDetached(sodium, cert!, certMessage(secrets.spaceId, dev.publicKey), secrets.writePk)).toBe(true)
    expect(verifyDetached(sodium, cert!, certMessage(secrets.spaceId, sodium.crypto_sign_keypair().publicKey), secrets.writePk)).toBe(false)
    const view = deriveKeys(sodium, viewOnly(secrets))
    expect(view.write).toBeUndefined()
    expect(certifyDevice(sodium, view, dev.publicKey)).toBeUndefined()
    // Same read keys either way: a view link decrypts everything an edit link does.
    expect(view.contentKey).toEqual(full.contentKey)
    expect(view.keyId).toEqual(full.keyId)
  })
})

describe('space ids and the creation proof', () => {
  it('a new space\'s id is derived from its access and write public keys', () => {
    const s = newSpaceSecrets(sodium)
    const k = deriveKeys(sodium, s)
    expect(s.spaceId).toEqual(spaceIdOf(sodium, k.access.publicKey, k.writePk))
    expect(s.spaceId.length).toBe(16)
    expect(newSpaceSecrets(sodium).spaceId).not.toEqual(s.spaceId)
  })

  it('only the write and access keys of the id, over the same challenge, make a valid proof', () => {
    const k = deriveKeys(sodium, newSpaceSecrets(sodium))
    const ch = sodium.randombytes_buf(32)
    const proof = signCreate(sodium, k.spaceId, k.access, k.write!, ch)
    expect(checkCreate(sodium, k.spaceId, k.access.publicKey, k.writePk, ch, proof)).toBeUndefined()
    expect(checkCreate(sodium, k.spaceId, k.access.publicKey, k.writePk, sodium.randombytes_buf(32), proof)).toBe('relay/bad-create-proof')
    const other = sodium.crypto_sign_keypair()
    // Another write key: the id does not match it, whatever it signs.
    expect(checkCreate(sodium, k.spaceId, k.access.publicKey, other.publicKey, ch, signCreate(sodium, k.spaceId, k.access, other, ch))).toBe('relay/bad-space-id')
    // The right public keys, signed by a key that is not the write key (what a view link could do).
    const forged = signCreate(sodium, k.spaceId, k.access, { publicKey: k.writePk, privateKey: other.privateKey }, ch)
    expect(checkCreate(sodium, k.spaceId, k.access.publicKey, k.writePk, ch, forged)).toBe('relay/bad-create-proof')
    // Each signature is needed: the access one too.
    expect(checkCreate(sodium, k.spaceId, k.access.publicKey, k.writePk, ch, { ...proof, accessSig: proof.writeSig })).toBe('relay/bad-create-proof')
  })
})

describe('invite links', () => {
  it('edit links round-trip every field', () => {
    const link = formatLink(ORIGIN, secrets, 'edit')
    expect(link.startsWith(`${ORIGIN}/#edit1.`)).toBe(true)
    const r = parseLink(sodium, link)
    if (!r.ok) throw new Error(r.code)
    expect(r.value.mode).toBe('edit')
    expect(r.value.relayUrl).toBe('wss://cove.example:8443/')
    expect(r.value.secrets).toEqual(secrets)
  })

  it('view links round-trip and carry no write seed', () => {
    const link = formatLink(ORIGIN, secrets, 'view')
    expect(link.startsWith(`${ORIGIN}/#view1.`)).toBe(true)
    const r = parseLink(sodium, link)
    if (!r.ok) throw new Error(r.code)
    expect(r.value.mode).toBe('view')
    expect(r.value.secrets).toEqual(viewOnly(secrets))
    expect('writeSeed' in r.value.secrets).toBe(false)
    const raw = fromB64u(payload(link))!
    expect(raw.length).toBe(84)
    expect(Buffer.from(raw).includes(Buffer.from(secrets.writeSeed!))).toBe(false)
    expect(link.includes(toB64u(secrets.writeSeed!))).toBe(false)
    // A view link made from view-only secrets is the same link; an edit link cannot be made from them.
    expect(formatLink(ORIGIN, viewOnly(secrets), 'view')).toBe(link)
    expect(() => formatLink(ORIGIN, viewOnly(secrets), 'edit')).toThrow()
  })

  it('round-trips arbitrary secrets and epochs, both kinds', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.constantFrom('http://localhost:8787', 'https://a.example', 'ws://10.0.0.1:9000', 'wss://b.example/some/path?x=1'),
      (spaceId, epoch, secret, writeSeed, origin) => {
        const s: SpaceSecrets = { spaceId, epoch, secret, writeSeed, writePk: sodium.crypto_sign_seed_keypair(writeSeed).publicKey }
        const edit = parseLink(sodium, formatLink(origin, s, 'edit'))
        const view = parseLink(sodium, formatLink(origin, s, 'view'))
        expect(edit.ok && edit.value.secrets).toEqual(s)
        expect(view.ok && view.value.secrets).toEqual(viewOnly(s))
        expect(edit.ok && edit.value.relayUrl).toBe(relayWsUrl(origin))
      }), { seed, numRuns: 200 })
  })

  it('keeps the secret in the fragment only: nothing before # carries it', () => {
    for (const mode of ['edit', 'view'] as const) {
      for (const origin of [ORIGIN, 'wss://cove.example:8443/ignored/path?token=1#frag']) {
        const link = formatLink(origin, secrets, mode)
        const [beforeHash, ...rest] = link.split('#')
        expect(rest.length).toBe(1)
        expect(beforeHash).toBe('https://cove.example:8443/')
        const u = new URL(link)
        expect(u.pathname).toBe('/')
        expect(u.search).toBe('')
        expect(u.username + u.password).toBe('')
        for (const secret of [secrets.secret, secrets.writeSeed!, secrets.spaceId]) {
          expect(beforeHash!.includes(toB64u(secret))).toBe(false)
        }
        expect(u.hash).toBe(`#${mode}1.${payload(link)}`)
      }
    }
  })

  it('gives the relay address as a WebSocket URL', () => {
    expect(relayWsUrl('https://cove.example:8443/x')).toBe('wss://cove.example:8443/')
    expect(relayWsUrl('http://localhost:8787')).toBe('ws://localhost:8787/')
    expect(relayWsUrl('wss://h.example')).toBe('wss://h.example/')
    expect(formatLink('ws://localhost:8787', secrets, 'view').startsWith('http://localhost:8787/#view1.')).toBe(true)
    const r = parseLink(sodium, `  ${formatLink('http://localhost:8787', secrets, 'view')}\n`)
    expect(r.ok && r.value.relayUrl).toBe('ws://localhost:8787/')
  })

  it('refuses malformed, truncated and unknown-kind links with their codes', () => {
    const link = formatLink(ORIGIN, secrets, 'edit')
    const p = payload(link)
    const head = link.slice(0, link.length - p.length)
    const codeOf = (l: string): string => { const r = parseLink(sodium, l); return r.ok ? 'ok' : r.code }

    expect(codeOf('')).toBe('link/malformed')
    expect(codeOf('not a link')).toBe('link/malformed')
    expect(codeOf(`#edit1.${p}`)).toBe('link/malformed')
    expect(codeOf(`ftp://cove.example/#edit1.${p}`)).toBe('link/bad-relay')
    expect(codeOf(`file:///tmp/#edit1.${p}`)).toBe('link/bad-relay')
    expect(codeOf(`${ORIGIN}/`)).toBe('link/unknown-kind')
    expect(codeOf(`${ORIGIN}/#`)).toBe('link/unknown-kind')
    expect(codeOf(`${ORIGIN}/#${p}`)).toBe('link/unknown-kind')
    expect(codeOf(`${ORIGIN}/#edit1`)).toBe('link/unknown-kind')
    expect(codeOf(`${ORIGIN}/#edit2.${p}`)).toBe('link/unknown-kind')
    expect(codeOf(`${ORIGIN}/#EDIT1.${p}`)).toBe('link/unknown-kind')
    expect(codeOf(`${ORIGIN}/#admin1.${p}`)).toBe('link/unknown-kind')

    // Every truncation of the key, down to nothing: damaged, never silently shorter.
    for (let k = 1; k <= p.length; k++) expect(codeOf(link.slice(0, link.length - k))).toBe('link/malformed')
    // Truncated into the kind itself.
    expect(codeOf(head.slice(0, -1))).toBe('link/unknown-kind')
    // Extended, or a character swapped for one outside the alphabet.
    for (const extra of ['A', 'AA', 'AAA', 'AAAA']) expect(codeOf(link + extra)).toBe('link/malformed')
    for (const bad of ['+', '/', '=', '.', '%', ' ', 'é']) {
      for (const at of [0, 50, p.length - 1]) expect(codeOf(head + p.slice(0, at) + bad + p.slice(at + 1))).toBe('link/malformed')
    }
    expect(codeOf(link)).toBe('ok')
  })
})
