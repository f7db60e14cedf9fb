package controllers

import (
	"time"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Window is a span in which the operator may restart a poet pod.
type Window struct {
	Start, End time.Time
}

// RolloutTiming tunes the safe window.
type RolloutTiming struct {
	// Margin before a round start in which nodes rush to register: no restarts.
	Margin time.Duration
	// ProofGrace after a round end to allow for publishing the proof when the pod's
	// status cannot be read.
	ProofGrace time.Duration
}

// DefaultRolloutTiming scales with the cycle gap: a quarter of it each.
func DefaultRolloutTiming(s schedule.Schedule) RolloutTiming {
	return RolloutTiming{Margin: s.CycleGap / 4, ProofGrace: s.CycleGap / 4}
}

// ProofState is what the pod's status says about the latest published proof.
type ProofState struct {
	// Known is false when the status could not be read.
	Known bool
	// Published reports whether any proof was published; Round is the latest.
	Published bool
	Round     uint64
	// Executing reports a round whose prover still runs (its proof is not out yet).
	Executing bool
}

func (p ProofState) covers(round uint64) bool {
	return p.Known && p.Published && p.Round >= round
}

// SafeWindow reports whether now is a safe moment to restart the pod: in the cycle gap
// after round n-1 ended and its proof is served (or, without status, after the proof
// grace), and not within the margin before round n starts. Before round 0 starts no
// round runs, so any moment up to the margin is safe. When now is not safe it returns
// the next window.
func SafeWindow(s schedule.Schedule, now time.Time, t RolloutTiming, proof ProofState) (bool, Window) {
	if g := s.CycleGap; t.Margin+t.ProofGrace >= g && g > 0 {
		t.Margin, t.ProofGrace = g/4, g/4
	}
	open := s.OpenRound(now)
	if open == 0 {
		end := s.RoundStart(0).Add(-t.Margin)
		if now.Before(end) {
			return true, Window{Start: now, End: end}
		}
		return false, gapWindow(s, 0, t, proof)
	}
	w := gapWindow(s, open-1, t, proof)
	switch {
	case now.Before(w.Start):
		return false, w
	case !now.Before(w.End):
		return false, gapWindow(s, open, t, proof)
	case proof.Known && proof.Executing && !proof.covers(open-1):
		// In the gap, but the prover is still finishing: the window opens once the
		// proof is out. (Not executing means published, or a round this poet skipped.)
		return false, Window{Start: now, End: w.End}
	}
	return true, w
}

// gapWindow is the window after round n ends.
func gapWindow(s schedule.Schedule, n uint64, t RolloutTiming, proof ProofState) Window {
	start := s.RoundEnd(n)
	if !proof.Known {
		start = start.Add(t.ProofGrace)
	}
	return Window{Start: start, End: s.RoundStart(n + 1).Add(-t.Margin)}
}
