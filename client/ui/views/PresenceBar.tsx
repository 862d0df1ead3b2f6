import { For, Show } from 'solid-js'
import type { PresencePeer } from '../../core/presence.js'
import { profile } from '../profile.js'

/** Who is here now: this person and every peer whose sealed presence is fresh. */
export interface PresenceBarProps {
  readonly peers: readonly PresencePeer[]
  readonly readOnly: boolean
}

export function PresenceBar (props: PresenceBarProps) {
  return (
    <ul class="presence" aria-label="People here now" data-testid="presence">
      <li class={`person cove-c${profile().color}`}>
        <span class="chip" aria-hidden="true" />{profile().name} (you{props.readOnly ? ', not visible to others' : ''})
      </li>
      <For each={props.peers}>
        {p => (
          <li class={`person cove-c${p.state.color}`} data-testid="peer">
            <span class="chip" aria-hidden="true" />{p.state.name}
          </li>
        )}
      </For>
      <Show when={props.peers.length === 0}><li class="muted">No one else is here</li></Show>
    </ul>
  )
}
