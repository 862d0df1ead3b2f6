import { createClient } from '../../client/core/client.js'
import { createMemorySpaceStore } from '../../client/core/store.js'
import { parseLink } from '../../shared/keys.js'
import { startTestRelay, wsTransport } from '../../test/support/relay.js'
const N = Number(process.argv[2] ?? 20)
const relay = await startTestRelay()
const mk = () => createClient({ transport: wsTransport, storeFor: () => createMemorySpaceStore(), link: { backoffBaseMs: 20, backoffMaxMs: 200 } })
const c0 = await mk()
const { space: s0, editLink } = await c0.createSpace(relay.url, 'storm')
const spaces = [s0]
const clients = [c0]
for (let i = 1; i < N; i++) { const c = await mk(); clients.push(c); const inv = parseLink(c.sodium, editLink); if (!inv.ok) throw new Error(); const s = await c.openSpace(inv.value, relay.url); await s.whenCaughtUp(20000); spaces.push(s) }
const t0 = Date.now()
let k = 0
await Promise.all(spaces.map(async (s, i) => {
  for (let j = 0; j < 100; j++) { const t = s.doc.getText('text'); t.insert(Math.floor((t.length * ((i * 7 + j) % 13)) / 13), `x${i}.${j} `); await new Promise(r => setTimeout(r, 100 + (k++ % 50))) }
}))
await new Promise(r => setTimeout(r, 3000))
const att = spaces.reduce((a, s) => a + s.snapshotStats.attempts, 0)
const st = spaces.reduce((a, s) => a + s.snapshotStats.stored, 0)
console.log(`N=${N} typing ${Date.now() - t0} ms: snapshot attempts ${att}, stored ${st}`)
for (const c of clients) await c.close()
await relay.close()
process.exit(0)
