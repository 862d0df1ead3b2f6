import { describe, expect, it } from 'vitest'
import { createMemorySpaceStore, type MemorySpaceStore } from '../../client/core/store.js'
import { runSpaceStoreContract } from './space-store-contract.js'

runSpaceStoreContract('memory', async () => {
  let first: MemorySpaceStore | undefined
  return {
    // Every handle shares the first one's data, as processes share one journal.
    open: () => first?.open() ?? (first = createMemorySpaceStore()),
    cleanup: async () => {}
  }
})

describe('memory store', () => {
  it('restarts from a snapshot into a store of its own', async () => {
    const b = (s: string): Uint8Array => new TextEncoder().encode(s)
    const a = createMemorySpaceStore()
    await a.write({ updates: [b('u0')], outboxAdd: [b('e0'), b('e1')], meta: b('m') })
    const restarted = createMemorySpaceStore(a.snapshot())
    await restarted.write({ outboxDrop: [b('e0')], updates: [b('u1')] })
    expect((await a.load()).outbox).toHaveLength(2)
    const got = await restarted.load()
    expect({ updates: got.updates.length, outbox: got.outbox.length, meta: got.meta?.length }).toEqual({ updates: 2, outbox: 1, meta: 1 })
  })
})
