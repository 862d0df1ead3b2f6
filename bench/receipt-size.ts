/**
 * Bytes of one receipt (issue 8) as sealed and framed, by the number of stream heads it names,
 * and what a member sends per minute at most (one receipt per 30 s while what it holds changes,
 * one per 2.5 min when idle).
 *
 *   npx tsx bench/receipt-size.ts
 */
import { GENESIS_HASH, seal } from '../shared/envelope.js'
import { writeFrame } from '../shared/frame.js'
import { MsgType } from '../shared/header.js'
import { certifyDevice, deriveKeys, newSpaceSecrets } from '../shared/keys.js'
import { getSodium } from '../shared/sodium.js'
import { RECEIPT_STREAM, writeReceipt } from '../client/core/receipt.js'

const sodium = await getSodium()
const secrets = newSpaceSecrets(sodium)
const keys = deriveKeys(sodium, secrets)
const kp = sodium.crypto_sign_keypair()
const device = { publicKey: kp.publicKey, privateKey: kp.privateKey, cert: certifyDevice(sodium, keys, kp.publicKey)! }
for (const n of [1, 3, 10, 50, 200]) {
  const heads = Array.from({ length: n }, (_, i) => ({ author: new Uint8Array(32).fill(i), stream: new Uint8Array(8).fill(i), seq: 1000 + i, hash: new Uint8Array(32).fill(7) }))
  const body = writeReceipt({ at: Date.now(), snapshot: { seq: 12, hash: new Uint8Array(32) }, heads })
  const env = seal(sodium, keys, device, MsgType.receipt, { stream: RECEIPT_STREAM, seq: 1, prevHash: GENESIS_HASH }, body)
  const frame = writeFrame({ type: 'receipt', reqId: 1, spaceId: keys.spaceId, envelope: env })
  console.log(`${n} heads: body ${body.length} B, envelope ${env.length} B, frame ${frame.length} B; typing: ≤ ${(frame.length * 2 / 1024).toFixed(1)} KiB/min up, idle: ≤ ${(frame.length / 2.5 / 1024).toFixed(2)} KiB/min`)
}
