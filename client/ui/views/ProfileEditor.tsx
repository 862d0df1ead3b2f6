import { For } from 'solid-js'
import { PALETTE_SIZE } from '../../core/presence.js'
import { profile, setProfile } from '../profile.js'

/** The name and colour others see next to this person's cursor (sent only inside sealed presence). */
export function ProfileEditor () {
  return (
    <div class="profile" role="group" aria-label="Your name and colour">
      {/* A visible label: a stranger's name in an unlabelled box says nothing to a new user (issue 9.7). */}
      <label class="profile-label" for="profile-name">Your name</label>
      <input
        id="profile-name"
        class="profile-name"
        value={profile().name}
        maxLength={64}
        onChange={e => setProfile({ name: e.currentTarget.value, color: profile().color })}
        data-testid="profile-name"
      />
      <span class="swatches">
        <For each={Array.from({ length: PALETTE_SIZE }, (_, i) => i)}>
          {c => (
            <button
              type="button"
              class={`swatch cove-c${c}`}
              classList={{ selected: profile().color === c }}
              aria-label={`Colour ${c + 1}`}
              aria-pressed={profile().color === c}
              onClick={() => setProfile({ name: profile().name, color: c })}
            />
          )}
        </For>
      </span>
    </div>
  )
}
