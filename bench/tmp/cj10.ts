import { coveSystem } from '../cove.js'
import { plaintextSystem } from '../plaintext.js'
import { loadTrace, finalText, applyOp } from '../trace.js'
const N = Number(process.argv[2] ?? 10000)
const ops = loadTrace().slice(0, N)
const expected = finalText(ops)
for (const sys of [plaintextSystem, coveSystem]) {
  const server = await sys.startServer()
  const room = await sys.createRoom(server)
  const w = await sys.connect(server, room)
  const o = await sys.connect(server, room)
  await w.synced(); await o.synced()
  for (let i = 0; i < ops.length; i++) { w.doc.transact(() => applyOp(w.text, ops[i]!)); if (i % 100 === 0) await new Promise(r => setImmediate(r)) }
  while (o.text.toString() !== expected) await new Promise(r => setTimeout(r, 50))
  await new Promise(r => setTimeout(r, 500))
  await w.destroy(); await o.destroy()
  await new Promise(r => setTimeout(r, 1000))
  const t0 = performance.now()
  const j = await sys.connect(server, room)
  while (j.text.toString() !== expected) await new Promise(r => setTimeout(r, 1))
  console.log(sys.name, N, 'cold join ms', (performance.now() - t0).toFixed(1), 'bytes', j.wire().received)
  await j.destroy()
  await server.stop()
}
process.exit(0)
