package controllers

import (
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

func TestSafeWindow(t *testing.T) {
	mainnet := schedule.Schedule{
		Genesis:       time.Date(2023, 7, 14, 8, 0, 0, 0, time.UTC),
		EpochDuration: 336 * time.Hour, PhaseShift: 240 * time.Hour, CycleGap: 12 * time.Hour,
	}
	dev := schedule.Schedule{Genesis: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		EpochDuration: 24 * time.Second, PhaseShift: 12 * time.Second, CycleGap: 6 * time.Second}
	served := func(n uint64) ProofState { return ProofState{Known: true, Published: true, Round: n} }
	unknown := ProofState{}
	for _, tc := range []struct {
		name   string
		s      schedule.Schedule
		now    time.Time
		proof  ProofState
		inside bool
		start  time.Time
		end    time.Time
	}{
		{
			name: "mainnet mid-round 50", s: mainnet,
			now: mainnet.RoundStart(50).Add(100 * time.Hour), proof: served(49),
			start: mainnet.RoundEnd(50), end: mainnet.RoundStart(51).Add(-3 * time.Hour),
		},
		{
			name: "mainnet in the gap, proof served", s: mainnet,
			now: mainnet.RoundEnd(50).Add(time.Hour), proof: served(50), inside: true,
			start: mainnet.RoundEnd(50), end: mainnet.RoundStart(51).Add(-3 * time.Hour),
		},
		{
			name: "mainnet in the gap, proof not out yet", s: mainnet,
			now: mainnet.RoundEnd(50).Add(time.Minute), proof: ProofState{Known: true, Published: true, Round: 49, Executing: true},
			start: mainnet.RoundEnd(50).Add(time.Minute), end: mainnet.RoundStart(51).Add(-3 * time.Hour),
		},
		{
			name: "mainnet in the gap, no status: after the grace", s: mainnet,
			now: mainnet.RoundEnd(50).Add(time.Hour), proof: unknown,
			start: mainnet.RoundEnd(50).Add(3 * time.Hour), end: mainnet.RoundStart(51).Add(-3 * time.Hour),
		},
		{
			name: "mainnet registration rush", s: mainnet,
			now: mainnet.RoundStart(51).Add(-time.Hour), proof: served(50),
			start: mainnet.RoundEnd(51), end: mainnet.RoundStart(52).Add(-3 * time.Hour),
		},
		{
			name: "dev before round 0", s: dev, now: dev.Genesis, proof: unknown, inside: true,
			start: dev.Genesis, end: dev.RoundStart(0).Add(-1500 * time.Millisecond),
		},
		{
			name: "dev round 0 executing", s: dev, now: dev.RoundStart(0).Add(time.Second), proof: unknown,
			start: dev.RoundEnd(0).Add(1500 * time.Millisecond), end: dev.RoundStart(1).Add(-1500 * time.Millisecond),
		},
		{
			name: "dev gap after round 3", s: dev, now: dev.RoundEnd(3).Add(2 * time.Second), proof: served(3), inside: true,
			start: dev.RoundEnd(3), end: dev.RoundStart(4).Add(-1500 * time.Millisecond),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inside, w := SafeWindow(tc.s, tc.now, DefaultRolloutTiming(tc.s), tc.proof)
			if inside != tc.inside || !w.Start.Equal(tc.start) || !w.End.Equal(tc.end) {
				t.Fatalf("inside=%v window [%s, %s); want %v [%s, %s)", inside, w.Start, w.End, tc.inside, tc.start, tc.end)
			}
		})
	}
}

// Wherever now is, a window that is not open now lies ahead and is not empty.
func TestSafeWindowAlwaysAhead(t *testing.T) {
	s := schedule.Schedule{Genesis: time.Unix(0, 0), EpochDuration: 24 * time.Second, PhaseShift: 12 * time.Second, CycleGap: 6 * time.Second}
	for ms := int64(0); ms < 200_000; ms += 137 {
		now := time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond)
		for _, p := range []ProofState{{}, {Known: true}, {Known: true, Executing: true}, {Known: true, Published: true, Round: 100}} {
			inside, w := SafeWindow(s, now, DefaultRolloutTiming(s), p)
			if !w.End.After(w.Start) || (!inside && w.End.Before(now)) || (inside && (now.Before(w.Start) || !now.Before(w.End))) {
				t.Fatalf("now %s proof %+v: inside=%v [%s, %s)", now, p, inside, w.Start, w.End)
			}
		}
	}
}
