import { For, Show } from 'solid-js'
import { deviceTag, type LabelledPeer } from '../peer-labels.js'
import { profile } from '../profile.js'

/**
 * Who is here now: this person and every device whose signed presence is fresh. Each entry is a
 * device (client/ui/peer-labels.ts): a name two devices claim is shown with each one's device tag,
 * and a view-only device is marked as an unverified viewer.
 */
export interface PresenceBarProps {
  readonly peers: readonly LabelledPeer[]
  readonly readOnly: boolean
  /** This device's key (hex), for its own tag; undefined until known. */
  readonly device: string | undefined
  /** A peer claims a name that looks like this person's. */
  readonly selfSameName: boolean
}

export function PresenceBar (props: PresenceBarProps) {
  const selfTitle = (): string => props.device === undefined
    ? 'This device'
    : `This device: ${deviceTag(props.device, 4)}${props.readOnly ? ', shown to others as a viewer (a view link only)' : ''}`
  return (
    <ul class="presence" aria-label="People here now" data-testid="presence">
      <li class={`person cove-c${profile().color}`} title={selfTitle()} data-testid="self">
        <span class="chip" aria-hidden="true" />{profile().name}
        <Show when={props.selfSameName && props.device !== undefined}> <span class="tag">· {deviceTag(props.device!)}</span></Show>
        {' '}(you{props.readOnly ? ', as a viewer' : ''})
      </li>
      <For each={props.peers}>
        {p => (
          <li
            class={`person cove-c${p.state.color}`}
            classList={{ viewer: p.label.viewer, 'same-name': p.label.sameName }}
            title={p.label.title}
            data-testid="peer"
            data-device={p.device}
          >
            <span class="chip" aria-hidden="true" />{p.label.name}
            <Show when={p.label.sameName || p.label.viewer}> <span class="tag" data-testid="peer-tag">· {p.label.tag}</span></Show>
            <Show when={p.label.viewer}> <span class="role">(viewer, unverified)</span></Show>
          </li>
        )}
      </For>
      <Show when={props.peers.length === 0}><li class="muted">No one else is here</li></Show>
    </ul>
  )
}
