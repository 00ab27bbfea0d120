// The active health-check state machine (HAProxy's rise/fall), as a pure function of the current
// cells and one check result. Main thread only (health/checker.ts applies it to the cells); kept
// pure so the sequences can be tested without sockets or clocks.

import { Health } from '../../shared/layout.ts'

/**
 * The runtime API's `set server … health stopping` writes this third value into the Health cell
 * (runtime/show-stat.ts HEALTH_STOPPING): HAProxy's NOLB, running but taking no new traffic. It
 * counts failures like UP, and the next passing check restores UP.
 */
export const HEALTH_STOPPING = 2

/** The server's health after one check, and whether it flipped. */
export interface CheckOutcome {
  /** Health.Up, Health.Down, or HEALTH_STOPPING kept as it was. */
  health: number
  /** The new CheckCount cell: failures in a row while up, successes in a row while down. */
  checkCount: number
  isTransition: boolean
}

/**
 * Apply one check result to (health, checkCount), HAProxy style, with rise 2 fall 3:
 *
 *   UP ─fail→ UP 2/3 ─fail→ UP 1/3 ─fail→ DOWN ─pass→ DOWN 1/2 ─pass→ UP
 *      (count 1)        (count 2)      (count 0)   (count 1)          (count 0)
 *
 * A pass while up, or a failure while down, ends the streak (count 0). A stopping server (NOLB)
 * counts failures as if up and becomes UP on its first pass. The count is clamped so a value
 * written by someone else (the runtime API) can only bring the transition closer, never wrap it.
 */
export function applyCheck(health: number, checkCount: number, isPass: boolean, rise: number, fall: number): CheckOutcome {
  const streak = checkCount > 0 ? checkCount + 1 : 1
  if (health !== Health.Down) {
    if (isPass) return { health: Health.Up, checkCount: 0, isTransition: health !== Health.Up }
    if (streak >= fall) return { health: Health.Down, checkCount: 0, isTransition: true }
    return { health, checkCount: streak, isTransition: false }
  }
  if (!isPass) return { health: Health.Down, checkCount: 0, isTransition: false }
  if (streak >= rise) return { health: Health.Up, checkCount: 0, isTransition: true }
  return { health: Health.Down, checkCount: streak, isTransition: false }
}
