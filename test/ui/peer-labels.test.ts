import { describe, expect, it } from 'vitest'
import type { PresencePeer } from '../../client/core/presence.js'
import { deviceTag, labelPeers, nameKey, selfNeedsTag } from '../../client/ui/peer-labels.js'

/** How peers are named on screen (issue 8 item 8): by their device when names collide. */
const peer = (device: string, name: string, certified = true): PresencePeer =>
  ({ key: device, device, certified, state: { name, color: 1, cursor: null }, seenAt: 0 })
const ANN = '11'.repeat(32)
const MAL = '22'.repeat(32)
const VIC = '33'.repeat(32)

describe('peer labels', () => {
  it('a unique editor shows its name alone; the device is always in the tooltip', () => {
    const [a] = labelPeers([peer(ANN, 'Ann')], { name: 'Bob' })
    expect(a!.label).toMatchObject({ text: 'Ann', sameName: false, viewer: false, tag: deviceTag(ANN) })
    expect(a!.label.title).toContain(deviceTag(ANN, 4))
    expect(a!.label.title).toContain('editor')
  })

  it('two devices claiming one name each show their own device tag', () => {
    const [a, m] = labelPeers([peer(ANN, 'Ann'), peer(MAL, 'Ann')], { name: 'Bob' })
    expect(a!.label.text).toBe(`Ann · ${deviceTag(ANN)}`)
    expect(m!.label.text).toBe(`Ann · ${deviceTag(MAL)}`)
    expect(deviceTag(ANN)).not.toBe(deviceTag(MAL))
    expect(m!.label.title).toContain('looks the same')
  })

  it('look-alike names count as one: case, accents, spaces, Cyrillic letters', () => {
    expect(nameKey('Ann')).toBe(nameKey(' ANN '))
    expect(nameKey('Ann')).toBe(nameKey('Ånn'))
    expect(nameKey('Ann')).toBe(nameKey('\u0410nn')) // Cyrillic А
    expect(nameKey('Bill')).toBe(nameKey('B1ll'))
    expect(nameKey('Ann')).not.toBe(nameKey('Anna'))
    const [, m] = labelPeers([peer(ANN, 'Ann'), peer(MAL, '\u0410nn')], { name: 'Bob' })
    expect(m!.label.sameName).toBe(true)
  })

  it('a peer claiming this person\'s name is tagged, and so is this person', () => {
    const peers = [peer(MAL, 'ann')]
    expect(labelPeers(peers, { name: 'Ann' })[0]!.label.sameName).toBe(true)
    expect(selfNeedsTag(peers, { name: 'Ann' })).toBe(true)
    expect(selfNeedsTag(peers, { name: 'Bob' })).toBe(false)
  })

  it('a view-only device is always an unverified viewer with its tag, never an editor', () => {
    const [v] = labelPeers([peer(VIC, 'Ann', false)], { name: 'Bob' })
    expect(v!.label).toMatchObject({ viewer: true, text: `Ann · ${deviceTag(VIC)}` })
    expect(v!.label.title).toContain('nobody vouches')
  })
})
