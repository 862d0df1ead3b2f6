import { afterEach, describe, expect, it } from 'vitest'
import type { Client } from '../../client/core/client.js'
import { parseLink } from '../../client/core/client.js'
import { createPresence, type Presence } from '../../client/core/presence.js'
import { encodeMessage } from '../../client/core/presence-format.js'
import type { Space } from '../../client/core/space.js'
import { deviceTag, labelPeers } from '../../client/ui/peer-labels.js'
import { equalBytes, toHex } from '../../shared/bytes.js'
import { GENESIS_HASH, seal } from '../../shared/envelope.js'
import { readFrame, writeFrame } from '../../shared/frame.js'
import { MsgType, parseEnvelope } from '../../shared/header.js'
import { deriveKeys, type Invite } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { startTestRelay, testClient, waitFor } from '../support/relay.js'
import { startTamperProxy, type TamperProxy } from '../support/tamper-proxy.js'

/**
 * Issue 8 item 8, "presence is bound to the device", through a real relay on 127.0.0.1 with a
 * man in the middle (test/support/tamper-proxy.ts) that records and injects presence frames.
 *
 * (a) A member who claims another's name and colour is shown as its own device: both entries carry
 *     their device tags, a view-only device claiming the name is an unverified viewer, and a state
 *     forged under the other's device key is refused. Shown to fail with the defence off (labelPeers
 *     never tagging same-name devices): "expected 'Ann' to be 'Ann · 9FMR-V96G'".
 * (b) A member leaves; the relay replays its recorded states (all but its goodbye), again and again,
 *     to a peer that restarted and to one that stayed: neither shows the member again. Shown to
 *     fail with the defence off (presence-gate.ts showing a state without the echo of a fresh
 *     counter of its own): "expected [ 'Sam', 'Ann' ] to deeply equal [ 'Sam' ]"; the version-1
 *     presence of main (30 s clock window, no echo) fails the same way.
 */
const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function world (): Promise<{ proxy: TamperProxy; a: Space; editLink: Invite; viewLink: Invite; open: (inv: Invite) => Promise<Space> }> {
  const sodium = await getSodium()
  const relay = await startTestRelay()
  cleanup.push(() => relay.close())
  const proxy = await startTamperProxy(relay.url)
  cleanup.push(() => proxy.close())
  const client = async (): Promise<Client> => {
    const c = await testClient()
    cleanup.push(() => c.close())
    return c
  }
  const created = await (await client()).createSpace(proxy.url, 'presence')
  const edit = parseLink(sodium, created.editLink)
  const view = parseLink(sodium, created.viewLink)
  if (!edit.ok || !view.ok) throw new Error('bad links')
  const open = async (inv: Invite): Promise<Space> => {
    const s = await (await client()).openSpace(inv, proxy.url)
    await waitFor(() => s.status.connection === 'online')
    return s
  }
  await waitFor(() => created.space.status.connection === 'online')
  return { proxy, a: created.space, editLink: edit.value, viewLink: view.value, open }
}

async function hub (s: Space, name: string, color = 3): Promise<Presence> {
  const p = createPresence(s, await getSodium(), { name, color, cursor: null }, { throttleMs: 0 })
  cleanup.push(() => p.close())
  return p
}

/** The presence envelope inside a frame, if it is one (either direction). */
function presenceEnvelope (bytes: Uint8Array): Uint8Array | undefined {
  const f = readFrame(bytes)
  if (!f.ok) return undefined
  return f.value.type === 'presence' || f.value.type === 'presenceOut' ? f.value.envelope : undefined
}
const authorOf = (env: Uint8Array): Uint8Array | undefined => {
  const p = parseEnvelope(env)
  return p.ok ? p.value.header.author : undefined
}

describe('presence through a relay and a man in the middle', () => {
  it('(a) a member forging another\'s name is shown with its own device tag, never as the other', async () => {
    const sodium = await getSodium()
    const { proxy, a, editLink, viewLink, open } = await world()
    const mallory = await open(editLink)
    const pat = await open(editLink)
    const vic = await open(viewLink)
    // On the wire: Pat's presence session (a forgery must echo it to stand a chance) and Ann's
    // certificate (public: it is in every envelope header of hers).
    let patStream: Uint8Array | undefined
    let patSeq = 0
    let annCert: Uint8Array | undefined
    proxy.tamper = (dir, bytes) => {
      const env = presenceEnvelope(bytes)
      const p = env === undefined ? undefined : parseEnvelope(env)
      if (p?.ok === true && equalBytes(p.value.header.author, a.devicePublicKey)) annCert = p.value.header.cert
      if (dir === 'toRelay' && p?.ok === true && equalBytes(p.value.header.author, pat.devicePublicKey)) { patStream = p.value.header.stream; patSeq = p.value.header.seq }
      return bytes
    }
    await hub(a, 'Ann', 3)
    await hub(mallory, 'Ann', 3)
    await hub(vic, 'Ann', 3)
    const pp = await hub(pat, 'Pat', 1)
    await waitFor(() => pp.peers().length === 3, 10_000, 'three peers at Pat')

    const labels = labelPeers(pp.peers(), { name: 'Pat', device: toHex(pat.devicePublicKey) })
    const by = (s: Space) => labels.find(l => l.device === toHex(s.devicePublicKey))!.label
    expect(by(a).text).toBe(`Ann · ${deviceTag(toHex(a.devicePublicKey))}`)
    expect(by(mallory).text).toBe(`Ann · ${deviceTag(toHex(mallory.devicePublicKey))}`)
    expect(by(mallory).text).not.toBe(by(a).text)
    expect(by(vic)).toMatchObject({ viewer: true, text: `Ann · ${deviceTag(toHex(vic.devicePublicKey))}` })
    expect(labels.filter(l => !l.label.viewer).map(l => l.label.text).sort()).toEqual(
      [`Ann · ${deviceTag(toHex(a.devicePublicKey))}`, `Ann · ${deviceTag(toHex(mallory.devicePublicKey))}`].sort())

    // Mallory goes further: a state under Ann's device key and Ann's (public) certificate, signed
    // with a key of her own, echoing Pat's current counter, injected straight to the clients.
    const annPk = a.devicePublicKey
    await waitFor(() => annCert !== undefined && patStream !== undefined, 10_000, 'a state of Ann and one of Pat')
    const keys = deriveKeys(sodium, editLink.secrets)
    const forger = sodium.crypto_sign_keypair()
    const body = encodeMessage({ n: 1000, s: Date.now() + 1e6, state: { name: 'Ann (forged)', color: 3, cursor: null }, seen: [{ stream: toHex(patStream!), n: patSeq }], bye: false })
    const forged = seal(sodium, keys, { publicKey: annPk, privateKey: forger.privateKey, cert: annCert! }, MsgType.presence, { stream: new Uint8Array(8).fill(9), seq: 1000, prevHash: GENESIS_HASH }, body)
    let delivered = 0
    const off = pat.events.on('presence', f => { if (f.type === 'presenceOut' && equalBytes(f.envelope, forged)) delivered++ })
    cleanup.push(off)
    expect(proxy.inject('toClient', writeFrame({ type: 'presenceOut', spaceId: keys.spaceId, envelope: forged }))).toBeGreaterThan(0)
    await waitFor(() => delivered > 0, 5000, 'the forgery to reach Pat')
    await sleep(50)
    expect(pp.peers().map(p => p.state.name)).not.toContain('Ann (forged)')
    expect(pp.peers()).toHaveLength(3)
  })

  it('(b) a recorded presence replayed after its sender left is not shown, to a restarted peer or one that stayed', async () => {
    const { proxy, a, editLink, open } = await world()
    const annPk = a.devicePublicKey
    const recorded: Uint8Array[] = []
    let recording = true
    proxy.tamper = (dir, bytes) => {
      const env = dir === 'toClient' ? presenceEnvelope(bytes) : undefined
      if (recording && env !== undefined && equalBytes(authorOf(env) ?? new Uint8Array(0), annPk)) recorded.push(bytes)
      return bytes
    }
    const stay = await open(editLink)
    let pat = await open(editLink)
    const pa = await hub(a, 'Ann')
    const ps = await hub(stay, 'Sam')
    let pp = await hub(pat, 'Pat')
    pa.setLocal({ color: 5 })
    await waitFor(() => pp.peers().length === 2 && ps.peers().length === 2 && pa.peers().length === 2, 10_000, 'everyone sees everyone')
    // Ann's last states before she leaves: these are what the relay keeps to replay (not her goodbye).
    await sleep(200)
    recording = false
    expect(recorded.length).toBeGreaterThan(0)
    pa.close()
    await a.close()
    await waitFor(() => !pp.peers().some(p => p.state.name === 'Ann') && !ps.peers().some(p => p.state.name === 'Ann'), 5000, 'Ann gone')

    // Pat restarts: a new process with no memory of presence, a new session.
    pp.close()
    await pat.close()
    pat = await open(editLink)
    pp = await hub(pat, 'Pat')
    await waitFor(() => pp.peers().length === 1, 10_000, 'restarted Pat sees Sam')
    let replays = 0
    const off = pat.events.on('presence', f => { if (f.type === 'presenceOut' && equalBytes(authorOf(f.envelope) ?? new Uint8Array(0), annPk)) replays++ })
    cleanup.push(off)

    // The relay replays Ann's recorded states, again and again, well inside any clock window.
    for (let round = 0; round < 5; round++) {
      for (const frame of recorded) proxy.inject('toClient', frame)
      await sleep(100)
      expect(pp.peers().map(p => p.state.name)).toEqual(['Sam'])
      expect(ps.peers().map(p => p.state.name)).toEqual(['Pat'])
    }
    expect(replays).toBeGreaterThanOrEqual(recorded.length)
  })
})
