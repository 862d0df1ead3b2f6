import { createSignal } from 'solid-js'
import { render } from 'solid-js/web'
import { describe, expect, it } from 'vitest'
import type { PresencePeer } from '../../client/core/presence.js'
import { deviceTag, labelPeers } from '../../client/ui/peer-labels.js'
import { profile } from '../../client/ui/profile.js'
import { PresenceBar } from '../../client/ui/views/PresenceBar.js'

/**
 * The presence bar tells devices apart (issue 8 item 8). With the labels off (the bar printing
 * `p.state.name` only, as before) the second test fails: both entries read "Ann".
 */
const peer = (device: string, name: string, certified = true): PresencePeer =>
  ({ key: device, device, certified, state: { name, color: 3, cursor: null }, seenAt: 0 })
const ANN = '11'.repeat(32)
const MAL = '22'.repeat(32)
const VIC = '33'.repeat(32)
const ME = '44'.repeat(32)

const texts = (host: HTMLElement): string[] => [...host.querySelectorAll('[data-testid=peer]')].map(e => e.textContent ?? '')

describe('presence bar', () => {
  it('shows a unique editor by name, with its device in the tooltip', () => {
    const host = document.createElement('div')
    const dispose = render(() => <PresenceBar peers={labelPeers([peer(ANN, 'Ann')], { name: profile().name })} readOnly={false} device={ME} selfSameName={false} />, host)
    expect(texts(host)).toEqual(['Ann'])
    expect(host.querySelector('[data-testid=peer]')!.getAttribute('title')).toContain(deviceTag(ANN, 4))
    expect(host.querySelector('[data-testid=peer]')!.getAttribute('data-device')).toBe(ANN)
    dispose()
  })

  it('two devices claiming one name, and a viewer claiming it too, are told apart', () => {
    const [peers, setPeers] = createSignal<PresencePeer[]>([peer(ANN, 'Ann')])
    const host = document.createElement('div')
    const dispose = render(() => <PresenceBar peers={labelPeers(peers(), { name: profile().name })} readOnly={false} device={ME} selfSameName={false} />, host)
    expect(texts(host)).toEqual(['Ann'])
    setPeers([peer(ANN, 'Ann'), peer(MAL, 'Ann'), peer(VIC, 'Ann', false)])
    expect(texts(host)).toEqual([
      `Ann · ${deviceTag(ANN)}`,
      `Ann · ${deviceTag(MAL)}`,
      `Ann · ${deviceTag(VIC)} (viewer, unverified)`
    ])
    expect(host.querySelectorAll('.person.viewer')).toHaveLength(1)
    expect(host.querySelectorAll('.person.same-name')).toHaveLength(3)
    dispose()
  })

  it('shows this device\'s own tag when a peer claims its name', () => {
    const host = document.createElement('div')
    const dispose = render(() => <PresenceBar peers={labelPeers([peer(MAL, profile().name)], { name: profile().name })} readOnly device={ME} selfSameName />, host)
    const self = host.querySelector('[data-testid=self]')!
    expect(self.textContent).toContain(deviceTag(ME))
    expect(self.textContent).toContain('as a viewer')
    dispose()
  })
})
