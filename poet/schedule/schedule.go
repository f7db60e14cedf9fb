// Package schedule is the round arithmetic of a PoET service: when each round
// opens, starts executing and stops, with the reference's formulas
// (spacemeshos/poet RoundConfig) to the nanosecond.
//
// Round n is open for registration during [RoundStart(n-1), RoundStart(n))
// (round 0: any time before genesis+PhaseShift), executes during
// [RoundStart(n), RoundEnd(n)), and is followed by a gap of CycleGap until
// RoundStart(n+1).
//
// All offsets from genesis are time.Duration values and saturate at
// math.MaxInt64 nanoseconds (about 292 years), exactly as the reference's
// time.Time.Sub does: the schedule is exact for every instant within that range
// of genesis, and every round whose start would lie beyond it starts (and ends)
// at genesis + math.MaxInt64 ns. Nothing overflows or wraps, whatever n is.
package schedule

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// ErrInvalid reports a schedule whose durations cannot describe rounds.
var ErrInvalid = errors.New("invalid schedule")

// Schedule is a service's round timing. Its zero value is invalid; methods on a
// schedule that fails Validate return unspecified results but never panic.
type Schedule struct {
	// Genesis is the instant the schedule counts from.
	Genesis time.Time
	// EpochDuration (E) is the distance between consecutive round starts.
	EpochDuration time.Duration
	// PhaseShift (PS) is the distance from genesis to the start of round 0.
	PhaseShift time.Duration
	// CycleGap (CG) is how long before the next round's start a round stops executing.
	CycleGap time.Duration
}

// Validate reports whether the durations describe a schedule: EpochDuration
// positive, PhaseShift and CycleGap non-negative and shorter than EpochDuration.
func (s Schedule) Validate() error {
	var errs []error
	if s.EpochDuration <= 0 {
		errs = append(errs, fmt.Errorf("%w: EpochDuration %s: must be positive", ErrInvalid, s.EpochDuration))
	}
	if s.PhaseShift < 0 || (s.EpochDuration > 0 && s.PhaseShift >= s.EpochDuration) {
		errs = append(errs, fmt.Errorf("%w: PhaseShift %s: must be at least 0 and less than EpochDuration %s",
			ErrInvalid, s.PhaseShift, s.EpochDuration))
	}
	if s.CycleGap < 0 || (s.EpochDuration > 0 && s.CycleGap >= s.EpochDuration) {
		errs = append(errs, fmt.Errorf("%w: CycleGap %s: must be at least 0 and less than EpochDuration %s",
			ErrInvalid, s.CycleGap, s.EpochDuration))
	}
	return errors.Join(errs...)
}

// RoundStart is genesis + PhaseShift + n·EpochDuration: the moment round n
// closes for registration and starts executing.
func (s Schedule) RoundStart(n uint64) time.Time {
	return s.Genesis.Add(s.startOffset(n))
}

// RoundEnd is RoundStart(n) + EpochDuration − CycleGap: the moment round n
// stops executing.
func (s Schedule) RoundEnd(n uint64) time.Time {
	return s.Genesis.Add(satAdd(s.startOffset(n), s.RoundDuration()))
}

// RoundDuration is how long a round executes: EpochDuration − CycleGap.
func (s Schedule) RoundDuration() time.Duration {
	return s.EpochDuration - s.CycleGap
}

// OpenRound is the round open for registration at t, the reference's
// OpenRoundId: 0 while t − genesis < PhaseShift (so before genesis too),
// otherwise ⌊(t − genesis − PhaseShift) / EpochDuration⌋ + 1 in integer
// nanoseconds.
func (s Schedule) OpenRound(t time.Time) uint64 {
	since := t.Sub(s.Genesis)
	if since < s.PhaseShift || s.EpochDuration <= 0 {
		return 0
	}
	return uint64((since-s.PhaseShift)/s.EpochDuration) + 1
}

// ExecutingRound is the round n with RoundStart(n) <= t < RoundEnd(n), if
// there is one: there is none before round 0 starts and during gaps.
func (s Schedule) ExecutingRound(t time.Time) (uint64, bool) {
	open := s.OpenRound(t)
	if open == 0 || !t.Before(s.RoundEnd(open-1)) {
		return 0, false
	}
	return open - 1, true
}

// InGap reports the round that finished last if t lies in the gap after it,
// [RoundEnd(n), RoundStart(n+1)), which is empty when CycleGap is 0.
func (s Schedule) InGap(t time.Time) (finished uint64, ok bool) {
	open := s.OpenRound(t)
	if open == 0 || t.Before(s.RoundEnd(open-1)) {
		return 0, false
	}
	return open - 1, true
}

// NextBoundary is the first RoundStart or RoundEnd strictly after t, for t
// within the schedule's range (see the package comment).
func (s Schedule) NextBoundary(t time.Time) time.Time {
	open := s.OpenRound(t)
	if open > 0 {
		if end := s.RoundEnd(open - 1); t.Before(end) {
			return end
		}
	}
	return s.RoundStart(open)
}

// startOffset is PhaseShift + n·EpochDuration, saturated to [0, MaxInt64] ns.
func (s Schedule) startOffset(n uint64) time.Duration {
	if s.EpochDuration <= 0 {
		return s.PhaseShift
	}
	hi, lo := bits.Mul64(n, uint64(s.EpochDuration))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return satAdd(s.PhaseShift, time.Duration(lo))
}

// satAdd adds two durations, saturating instead of wrapping.
func satAdd(a, b time.Duration) time.Duration {
	sum := a + b
	switch {
	case a > 0 && b > 0 && sum < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && sum >= 0:
		return math.MinInt64
	}
	return sum
}
