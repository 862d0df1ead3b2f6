import * as Y from 'yjs'
import { describe, expect, it } from 'vitest'
import { createClient, type Client } from '../../client/core/client.js'
import type { Alert, Space } from '../../client/core/space.js'
import { createMemorySpaceStore, type SpaceStore } from '../../client/core/store.js'
import { toHex } from '../../shared/bytes.js'
import { deriveKeys, type Invite } from '../../shared/keys.js'
import { getSodium } from '../../shared/sodium.js'
import { twoVersions } from '../support/member.js'
import { startMitm, type Mitm } from '../support/mitm.js'
import { inviteOf } from '../support/mitm-world.js'
import { createPrng, testSeed, type Prng } from '../support/prng.js'
import { rawPeer, type RawPeer } from '../support/raw-peer.js'
import { startTestRelay, wsTransport } from '../support/relay.js'

/**
 * Issue 8: a lying relay in a randomized convergence run. A real relay on 127.0.0.1 (SQLite on
 * disk) with the lying man in the middle of test/support/mitm.ts in front; three or four honest
 * members, each on a tag of its own, edit a text and a map while a seeded schedule has the MITM
 * tell its lies: swallow an append and forge its ack, withhold one author from one reader, fork
 * the members into two groups, serve an old snapshot and nothing after it to a new device, serve
 * two signed envelopes for one (author, seq) to two groups (a member colluding with the relay).
 * Members also snapshot, lose their connection, and restart from their stores. Then the MITM
 * turns honest and the members get a while to heal.
 *
 * What must hold: every honest member either ends equal to every other with every honest edit in,
 * or stands with an alert about the relay (withheld, fork, equivocation, unbacked ack) — never
 * silently apart; and no alert ever blames an honest device for something only its author could
 * have done (a malformed or conflicting update, a bad snapshot, two versions of one seq).
 *
 *   LYING_RUNS=500 npx vitest run test/relay/lying-convergence.test.ts     a longer run
 *   SEED=123 npx vitest run test/relay/lying-convergence.test.ts           replay one run
 *   LYING_DEFENCE=off …                                                     receipts off (see below)
 *
 * Defence off (LYING_DEFENCE=off: receipts every 10^9 ms, so none is sent after a member's first):
 * run once with 30 runs (base SEED=1589032037), 4 ended silently apart (members missing
 * others' edits after the relay turned honest, no alert: runs 3, 6, 7 and 13), so the check fails
 * without the defence; with it, 100 runs: 84 converged, 16 apart with alerts, none silent.
 */
const seedFromEnv = process.env.SEED !== undefined && process.env.SEED !== ''
const RUNS = Number(process.env.LYING_RUNS ?? (seedFromEnv ? 1 : 100))
const BASE_SEED = testSeed('lying-convergence')
const seedOf = (i: number): number => seedFromEnv ? BASE_SEED : (BASE_SEED + Math.imul(i, 0x9e3779b9)) | 0
const DEFENCE_OFF = process.env.LYING_DEFENCE === 'off'
const HEAL_MS = Number(process.env.LYING_HEAL_MS ?? 12_000)
const SPACE_BASE = { receiptMs: DEFENCE_OFF ? 1e9 : 100, withholdMs: 700, gapTimeoutMs: 300, snapshotIdleMs: 0, snapshotBytes: 1 << 30 }

/** Alerts about the relay: they may name the member whose changes a lie touched. */
const RELAY_CODES = new Set(['snapshot/unverifiable', 'sync/withheld', 'sync/fork', 'sync/ack-unbacked', 'sync/missing-entries', 'sync/cursor-ahead', 'sync/replay-or-reorder', 'sync/stale-join', 'snapshot/regression'])

interface Member {
  readonly name: string
  readonly tag: string
  readonly store: SpaceStore
  client: Client | undefined
  space: Space | undefined
  /** Alerts of every session of this member. */
  readonly alerts: Alert[]
  hex: string
}

/**
 * What honest members must agree on: everything but the colluding member's item, of which each
 * side may keep the version it was served (test/support/member.ts twoVersions: clientID 4242).
 * That split is alerted where a hash shows it; a member that only ever saw folded heads (no hash)
 * of that stream cannot tell, which the closing note of issue 8 records.
 */
const COLLUDER_CLIENT = 4242
const stateOf = (s: Space): string => JSON.stringify({
  sv: [...Y.decodeStateVector(Y.encodeStateVector(s.doc))].filter(([c]) => c !== COLLUDER_CLIENT).sort((a, b) => a[0] - b[0]),
  text: s.doc.getText('text').toString().replace(/version-(one|two) /g, ''),
  map: Object.entries(s.doc.getMap('map').toJSON()).sort(([a], [b]) => a < b ? -1 : 1)
})
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function lyingRun (seed: number): Promise<{ converged: boolean; lies: string[] }> {
  const p: Prng = createPrng(seed)
  const t0 = Date.now()
  const trace: string[] = []
  const log = (s: string): void => { trace.push(`${String(Date.now() - t0).padStart(5)}ms ${s}`) }
  const sodium = await getSodium()
  const relay = await startTestRelay({ pruneGraceMs: p.pick([0, 200, 60_000]), keepSnapshots: p.int(1, 3) })
  const mitm: Mitm = await startMitm(relay.url)
  const space = { ...SPACE_BASE, snapshotEvery: p.pick([0, 0, 3, 6]) }
  const members: Member[] = []
  const peers: RawPeer[] = []
  const lies: string[] = []
  const tokens: string[] = []
  let invite: Invite | undefined
  const open = async (m: Member): Promise<void> => {
    m.client = await createClient({ transport: wsTransport, storeFor: () => m.store, link: { backoffBaseMs: 20, backoffMaxMs: 200 }, space })
    const url = await mitm.url(m.tag)
    if (invite === undefined) {
      const made = await m.client.createSpace(url)
      m.space = made.space
      invite = await inviteOf(made.editLink)
    } else {
      m.space = await m.client.openSpace(invite, url)
    }
    m.space.events.on('alert', a => { m.alerts.push(a); log(`${m.name} alert ${a.code}${a.author === undefined ? '' : ` [${nameOf(a.author)}]`}: ${a.message}`) })
    m.hex = toHex(m.space.devicePublicKey)
  }
  const nameOf = (hex: string): string => members.find(m => m.hex === hex)?.name ?? (hex === mallory ? 'mallory' : hex.slice(0, 6))
  let mallory = ''
  const add = async (): Promise<Member> => {
    const i = members.length
    const m: Member = { name: `m${i}`, tag: `t${i}`, store: createMemorySpaceStore(), client: undefined, space: undefined, alerts: [], hex: '' }
    members.push(m)
    await open(m)
    return m
  }
  const running = (): Member[] => members.filter(m => m.space !== undefined)

  try {
    const first = await add()
    if (first.space === undefined || first.client === undefined) throw new Error('no space')
    if (invite === undefined) throw new Error('no invite link')
    const spaceKey = first.space.spaceKey
    for (let n = p.int(2, 3); n > 0; n--) await add()
    for (const m of members) await m.space!.whenCaughtUp(5000)
    const keys = deriveKeys(sodium, invite.secrets)
    const nSteps = p.int(12, 30)
    log(`seed ${seed}: ${members.length} members, ${nSteps} steps, options ${JSON.stringify(space)}`)
    let k = 0
    for (let step = 0; step < nSteps; step++) {
      const r = p.next()
      const live = running()
      const m = p.pick(live)
      if (r < 0.45) {
        const word = `${m.name}.${k++} `
        tokens.push(word)
        const t = m.space!.doc.getText('text')
        // At a word boundary, so every word stays whole and can be looked for at the end.
        const s = t.toString()
        const bounds = [0, ...[...s].flatMap((c, i) => c === ' ' ? [i + 1] : [])]
        t.insert(p.pick(bounds), word)
        if (p.bool(0.3)) m.space!.doc.getMap('map').set(`k${p.int(0, 5)}`, word)
        log(`${m.name} writes ${word}`)
      } else if (r < 0.53) {
        mitm.swallowNextAppend(m.tag)
        lies.push('swallow')
        log(`LIE swallow the next append of ${m.name}`)
      } else if (r < 0.61 && live.length > 1) {
        const author = p.pick(live.filter(x => x !== m))
        mitm.dropAuthor(m.tag, author.hex)
        lies.push('withhold')
        log(`LIE withhold ${author.name} from ${m.name}`)
      } else if (r < 0.66 && live.length > 2 && !lies.includes('fork')) {
        const shuffled = [...live].sort(() => p.next() - 0.5)
        const cut = p.int(1, shuffled.length - 1)
        const groups = [shuffled.slice(0, cut).map(x => x.tag), shuffled.slice(cut).map(x => x.tag)]
        mitm.fork(groups)
        lies.push('fork')
        log(`LIE fork ${JSON.stringify(groups)}`)
      } else if (r < 0.71 && members.length < 6) {
        const roll = mitm.snapshots(spaceKey).length > 0 && p.bool(0.7)
        if (roll) { mitm.rollback(`t${members.length}`); lies.push('rollback') }
        const n = await add()
        log(`${n.name} joins${roll ? ' (LIE: served the oldest snapshot and nothing after it)' : ''}`)
      } else if (r < 0.74 && mallory === '' && live.length > 1) {
        const { device, v1, v2 } = twoVersions(sodium, keys)
        mallory = toHex(device.publicKey)
        const readers = live.filter(() => p.bool()).map(x => x.tag)
        mitm.equivocate(v2, readers)
        const peer = await rawPeer(await mitm.url('mallory'))
        peers.push(peer)
        await peer.join(sodium, keys.spaceId, keys.access)
        peer.send({ type: 'append', reqId: 50, spaceId: keys.spaceId, envelope: v1 })
        await peer.next('ok', f => f.reqId === 50)
        lies.push('equivocate')
        log(`LIE mallory's two versions of one seq, the second to ${JSON.stringify(readers)}`)
      } else if (r < 0.82) {
        log(`${m.name} snapshots: ${await m.space!.snapshot()}`)
      } else if (r < 0.88) {
        mitm.cut(m.tag)
        log(`${m.name}'s connection cut`)
      } else if (r < 0.93 && live.length > 2) {
        await m.client!.close()
        m.client = undefined
        m.space = undefined
        log(`${m.name} closed`)
      } else {
        const down = members.filter(x => x.space === undefined)
        if (down.length > 0) {
          const d = p.pick(down)
          await open(d)
          log(`${d.name} reopened from its store`)
        }
      }
      await sleep(p.pick([0, 10, 30, 80, 150]))
    }
    for (const d of members.filter(x => x.space === undefined)) await open(d)
    mitm.honest()
    log('the relay turns honest')
    const converged = (): boolean => {
      const states = new Set(members.map(x => stateOf(x.space!)))
      const text = members[0]!.space!.doc.getText('text').toString()
      return states.size === 1 && tokens.every(w => text.includes(w))
    }
    // Healing ends when everyone is equal, or nothing has changed for a while (apart for good:
    // judged below), or at HEAL_MS.
    const until = Date.now() + HEAL_MS
    let ok = converged()
    let last = members.map(x => stateOf(x.space!)).join()
    let since = Date.now()
    while (!ok && Date.now() < until && Date.now() - since < 4000) {
      await sleep(50)
      ok = converged()
      const now = members.map(x => stateOf(x.space!)).join()
      if (now !== last) { last = now; since = Date.now() }
    }
    const honest = new Set(members.map(x => x.hex))
    const report = (): string => [
      `seed ${seed} (SEED=${seed} npx vitest run test/relay/lying-convergence.test.ts)`,
      ...members.map(x => `${x.name} ${x.hex.slice(0, 6)}: ${x.space!.doc.getText('text').toString().length} chars, missing ${JSON.stringify(tokens.filter(w => !x.space!.doc.getText('text').toString().includes(w)))}, alerts ${JSON.stringify(x.alerts.map(a => a.code))}, receipts ${JSON.stringify(x.space!.receipts.stats)}, status ${JSON.stringify(x.space!.status)}, stats ${JSON.stringify(x.space!.stats)}`),
      ...members.map(x => `${x.name} state ${stateOf(x.space!)} owed ${JSON.stringify(x.space!.receipts.owedStreams().map(o => `${nameOf(o.sk.split(':')[0]!)}@${o.fromSeq}`))} ready ${String((x.space as unknown as { conn: { ready (): boolean } }).conn.ready())} heads ${[...(x.space as unknown as { reader: { heads: Map<string, { seq: number }> } }).reader.heads].map(([k, h]) => `${nameOf(k.split(':')[0]!)}/${k.split(':')[1]!.slice(0, 4)}@${h.seq}`).join(',')}`),
      `mitm: ${JSON.stringify(mitm.counts)}`,
      `log: ${mitm.log(spaceKey).map(e => `${e.cursor}:${nameOf(e.author)}/${e.stream.slice(0, 4)}#${e.seq}`).join(' ')}`,
      `swallowed: ${mitm.swallowed.map(x => `${x.tag}@${x.forgedCursor}`).join(' ')}`,
      ...trace.slice(-200)
    ].join('\n')
    for (const x of members) {
      for (const a of x.alerts) {
        if (a.author !== undefined && honest.has(a.author) && !RELAY_CODES.has(a.code)) throw new Error(`${x.name} blames honest ${nameOf(a.author)} with ${a.code}: ${a.message}\n${report()}`)
      }
    }
    if (!ok) {
      // Apart: the common state is the one most members with every edit hold; each member not at
      // it must stand with an alert about the relay (or about the colluding member's two versions).
      const complete = members.filter(x => tokens.every(w => x.space!.doc.getText('text').toString().includes(w)))
      const count = new Map<string, number>()
      for (const x of complete) count.set(stateOf(x.space!), (count.get(stateOf(x.space!)) ?? 0) + 1)
      const best = [...count].sort((a, b) => b[1] - a[1])[0]?.[0]
      const silent = members.filter(x => stateOf(x.space!) !== best && !x.alerts.some(a => RELAY_CODES.has(a.code) || a.code === 'sync/equivocation'))
      if (silent.length > 0) throw new Error(`silently apart after the relay turned honest: ${silent.map(x => x.name).join(', ')}\n${report()}`)
      log('apart, with alerts')
    }
    return { converged: ok, lies }
  } finally {
    for (const peer of peers) peer.close()
    for (const m of members) await m.client?.close()
    await mitm.close()
    await relay.close()
  }
}

describe('a lying relay in a randomized run (issue 8)', () => {
  it(`${RUNS} seeded runs: honest members converge or stand alerted, never silently apart`, async () => {
    console.log(`[seed] lying-convergence: SEED=${BASE_SEED}${DEFENCE_OFF ? ' (defence off)' : ''}`)
    let apart = 0
    let failures = 0
    const tally = new Map<string, number>()
    for (let i = 0; i < RUNS; i++) {
      const seed = seedOf(i)
      try {
        const r = await lyingRun(seed)
        if (!r.converged) apart++
        for (const l of new Set(r.lies)) tally.set(l, (tally.get(l) ?? 0) + 1)
      } catch (e) {
        failures++
        if (!DEFENCE_OFF) throw e
        console.log(`run ${i} (seed ${seed}) failed: ${String(e).split('\n')[0]}`)
      }
    }
    console.log(`[lying-convergence] ${RUNS} runs: ${RUNS - apart - failures} converged, ${apart} apart with alerts, ${failures} failed; runs per lie ${JSON.stringify(Object.fromEntries(tally))}`)
    if (DEFENCE_OFF) expect(failures).toBeGreaterThan(0)
  }, RUNS * 30_000)
})
