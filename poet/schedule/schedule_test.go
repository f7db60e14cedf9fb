package schedule

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
)

// mainnet is docs/poet_config_sample.conf of the reference.
var mainnet = Schedule{
	Genesis:       time.Date(2023, 7, 14, 8, 0, 0, 0, time.UTC),
	EpochDuration: 336 * time.Hour,
	PhaseShift:    240 * time.Hour,
	CycleGap:      12 * time.Hour,
}

// dev is a fast development schedule.
var dev = Schedule{
	Genesis:       time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	EpochDuration: 24 * time.Second,
	PhaseShift:    12 * time.Second,
	CycleGap:      6 * time.Second,
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		s       Schedule
		wantErr string // substring; "" means valid
	}{
		{name: "mainnet", s: mainnet},
		{name: "dev", s: dev},
		{name: "zero phase shift and gap", s: Schedule{EpochDuration: time.Second}},
		{name: "zero epoch", s: Schedule{}, wantErr: "EpochDuration 0s: must be positive"},
		{name: "negative epoch", s: Schedule{EpochDuration: -time.Second}, wantErr: "EpochDuration -1s"},
		{name: "phase shift equals epoch", s: Schedule{EpochDuration: time.Minute, PhaseShift: time.Minute}, wantErr: "PhaseShift 1m0s"},
		{name: "negative phase shift", s: Schedule{EpochDuration: time.Minute, PhaseShift: -1}, wantErr: "PhaseShift -1ns"},
		{name: "cycle gap equals epoch", s: Schedule{EpochDuration: time.Minute, CycleGap: time.Minute}, wantErr: "CycleGap 1m0s"},
		{name: "negative cycle gap", s: Schedule{EpochDuration: time.Minute, CycleGap: -time.Second}, wantErr: "CycleGap -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRoundStartEnd(t *testing.T) {
	tests := []struct {
		name       string
		s          Schedule
		n          uint64
		start, end string
	}{
		{"mainnet 0", mainnet, 0, "2023-07-24T08:00:00Z", "2023-08-06T20:00:00Z"},
		{"mainnet 1", mainnet, 1, "2023-08-07T08:00:00Z", "2023-08-20T20:00:00Z"},
		{"mainnet 10", mainnet, 10, "2023-12-11T08:00:00Z", "2023-12-24T20:00:00Z"},
		{"dev 0", dev, 0, "2024-01-01T00:00:12Z", "2024-01-01T00:00:30Z"},
		{"dev 1", dev, 1, "2024-01-01T00:00:36Z", "2024-01-01T00:00:54Z"},
		{"dev 150", dev, 150, "2024-01-01T01:00:12Z", "2024-01-01T01:00:30Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.s.RoundStart(tt.n), testutil.MustTime(t, tt.start); !got.Equal(want) {
				t.Errorf("RoundStart(%d) = %s, want %s", tt.n, got, want)
			}
			if got, want := tt.s.RoundEnd(tt.n), testutil.MustTime(t, tt.end); !got.Equal(want) {
				t.Errorf("RoundEnd(%d) = %s, want %s", tt.n, got, want)
			}
		})
	}
	if got := mainnet.RoundDuration(); got != 324*time.Hour {
		t.Errorf("mainnet RoundDuration() = %s, want 324h", got)
	}
	if got := dev.RoundDuration(); got != 18*time.Second {
		t.Errorf("dev RoundDuration() = %s, want 18s", got)
	}
}

func TestSaturation(t *testing.T) {
	limit := mainnet.Genesis.Add(math.MaxInt64)
	// 7624 = ⌊(MaxInt64 − PS) / E⌋ for mainnet: the last round whose start is representable.
	last := mainnet.Genesis.Add(240*time.Hour + 7624*336*time.Hour)
	tests := []struct {
		n     uint64
		start time.Time
		end   time.Time
	}{
		{7624, last, limit}, // its end, 324h later, is past the limit
		{7625, limit, limit},
		{1 << 40, limit, limit},
		{math.MaxUint64 / uint64(336*time.Hour), limit, limit},
		{math.MaxUint64, limit, limit},
	}
	for _, tt := range tests {
		if got := mainnet.RoundStart(tt.n); !got.Equal(tt.start) {
			t.Errorf("RoundStart(%d) = %s, want %s", tt.n, got, tt.start)
		}
		if got := mainnet.RoundEnd(tt.n); !got.Equal(tt.end) {
			t.Errorf("RoundEnd(%d) = %s, want %s", tt.n, got, tt.end)
		}
	}
	if got := mainnet.OpenRound(limit.Add(time.Hour)); got != 7625 {
		t.Errorf("OpenRound past the limit = %d, want 7625 (saturated like the reference)", got)
	}
	prev := mainnet.RoundStart(0)
	for n := uint64(1); n < 1<<20; n = n*3 + 1 {
		cur := mainnet.RoundStart(n)
		if cur.Before(prev) {
			t.Fatalf("RoundStart(%d) = %s before an earlier round's start %s", n, cur, prev)
		}
		prev = cur
	}
}

func TestOpenRound(t *testing.T) {
	g := dev.Genesis
	tests := []struct {
		name string
		s    Schedule
		t    time.Time
		want uint64
	}{
		{"long before genesis", dev, g.Add(-100 * time.Hour), 0},
		{"before genesis", dev, g.Add(-time.Nanosecond), 0},
		{"genesis", dev, g, 0},
		{"last ns of round 0", dev, g.Add(12*time.Second - 1), 0},
		{"round 0 starts", dev, g.Add(12 * time.Second), 1},
		{"last ns of round 1", dev, g.Add(36*time.Second - 1), 1},
		{"round 1 starts", dev, g.Add(36 * time.Second), 2},
		{"an hour in", dev, g.Add(time.Hour), 150},
		{"mainnet before round 0", mainnet, testutil.MustTime(t, "2023-07-24T07:59:59Z"), 0},
		{"mainnet round 0 starts", mainnet, testutil.MustTime(t, "2023-07-24T08:00:00Z"), 1},
		{"mainnet 2024-01-01", mainnet, testutil.MustTime(t, "2024-01-01T00:00:00Z"), 12}, // round 11 started 2023-12-25T08:00Z
		{"reference: before genesis", Schedule{Genesis: g, EpochDuration: time.Hour, PhaseShift: time.Minute}, g.Add(-time.Minute), 0},
		{"reference: in phase shift", Schedule{Genesis: g, EpochDuration: time.Hour, PhaseShift: 10 * time.Minute}, g.Add(time.Minute), 0},
		{"reference: first epoch", Schedule{Genesis: g, EpochDuration: time.Hour, PhaseShift: time.Minute}, g.Add(2 * time.Minute), 1},
		{"reference: distant epoch", Schedule{Genesis: g, EpochDuration: time.Hour, PhaseShift: time.Minute}, g.Add(100 * time.Hour), 100},
		{"invalid epoch does not panic", Schedule{Genesis: g}, g.Add(time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.OpenRound(tt.t); got != tt.want {
				t.Errorf("OpenRound(%s) = %d, want %d", tt.t, got, tt.want)
			}
		})
	}
}

func TestPhases(t *testing.T) {
	g := dev.Genesis
	type state struct {
		executing, gap uint64
		isExec, isGap  bool
		next           time.Duration // since genesis
	}
	tests := []struct {
		name string
		at   time.Duration // since genesis
		want state
	}{
		{"before genesis", -time.Hour, state{next: 12 * time.Second}},
		{"genesis", 0, state{next: 12 * time.Second}},
		{"round 0 starts", 12 * time.Second, state{executing: 0, isExec: true, next: 30 * time.Second}},
		{"round 0 last ns", 30*time.Second - 1, state{executing: 0, isExec: true, next: 30 * time.Second}},
		{"round 0 ends", 30 * time.Second, state{gap: 0, isGap: true, next: 36 * time.Second}},
		{"gap last ns", 36*time.Second - 1, state{gap: 0, isGap: true, next: 36 * time.Second}},
		{"round 1 starts", 36 * time.Second, state{executing: 1, isExec: true, next: 54 * time.Second}},
		{"round 1 gap", 55 * time.Second, state{gap: 1, isGap: true, next: 60 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := g.Add(tt.at)
			var got state
			got.executing, got.isExec = dev.ExecutingRound(at)
			got.gap, got.isGap = dev.InGap(at)
			got.next = dev.NextBoundary(at).Sub(g)
			if got != tt.want {
				t.Errorf("at genesis%+v: got %+v, want %+v", tt.at, got, tt.want)
			}
		})
	}
}

func TestZeroCycleGap(t *testing.T) {
	s := Schedule{Genesis: dev.Genesis, EpochDuration: 10 * time.Second}
	for _, at := range []time.Duration{0, 5 * time.Second, 10*time.Second - 1, 10 * time.Second} {
		tm := s.Genesis.Add(at)
		n, ok := s.ExecutingRound(tm)
		if !ok || n != uint64(at/(10*time.Second)) {
			t.Errorf("ExecutingRound(genesis+%s) = %d, %v", at, n, ok)
		}
		if _, ok := s.InGap(tm); ok {
			t.Errorf("InGap(genesis+%s) = true with no cycle gap", at)
		}
		if got, want := s.NextBoundary(tm), s.RoundStart(n+1); !got.Equal(want) {
			t.Errorf("NextBoundary(genesis+%s) = %s, want %s", at, got, want)
		}
	}
}

// TestProperties checks the invariants on random schedules and instants.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		e := time.Duration(1 + rng.Int64N(int64(400*time.Hour)))
		s := Schedule{
			Genesis:       time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC(),
			EpochDuration: e,
			PhaseShift:    time.Duration(rng.Int64N(int64(e))),
			CycleGap:      time.Duration(rng.Int64N(int64(e))),
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		for range 200 {
			var at time.Time
			switch rng.IntN(3) {
			case 0: // anywhere up to 100 epochs around genesis
				at = s.Genesis.Add(time.Duration(rng.Int64N(int64(100*e))) - 2*e)
			case 1: // at or next to a boundary
				n := rng.Uint64N(1000)
				b := s.RoundStart(n)
				if rng.IntN(2) == 0 {
					b = s.RoundEnd(n)
				}
				at = b.Add(time.Duration(rng.IntN(3) - 1))
			default: // anywhere in the representable range
				at = s.Genesis.Add(time.Duration(rng.Int64N(math.MaxInt64 - int64(e))))
			}
			checkInvariants(t, s, at)
		}
	}
}

func checkInvariants(t *testing.T, s Schedule, at time.Time) {
	t.Helper()
	n := s.OpenRound(at)
	if n == 0 {
		if !at.Before(s.RoundStart(0)) {
			t.Fatalf("%+v: OpenRound(%s) = 0 but round 0 started at %s", s, at, s.RoundStart(0))
		}
	} else if at.Before(s.RoundStart(n-1)) || !at.Before(s.RoundStart(n)) {
		t.Fatalf("%+v: OpenRound(%s) = %d, not in [%s, %s)", s, at, n, s.RoundStart(n-1), s.RoundStart(n))
	}
	ex, isExec := s.ExecutingRound(at)
	gap, isGap := s.InGap(at)
	switch {
	case isExec && isGap:
		t.Fatalf("%+v: %s both executing %d and in gap after %d", s, at, ex, gap)
	case n > 0 && !isExec && !isGap:
		t.Fatalf("%+v: %s after round 0 starts neither executing nor in a gap", s, at)
	case n == 0 && (isExec || isGap):
		t.Fatalf("%+v: %s before round 0 starts is executing or in a gap", s, at)
	case isExec && (ex != n-1 || at.Before(s.RoundStart(ex)) || !at.Before(s.RoundEnd(ex))):
		t.Fatalf("%+v: ExecutingRound(%s) = %d, outside [%s, %s)", s, at, ex, s.RoundStart(ex), s.RoundEnd(ex))
	case isGap && (gap != n-1 || at.Before(s.RoundEnd(gap)) || !at.Before(s.RoundStart(gap+1))):
		t.Fatalf("%+v: InGap(%s) = %d, outside [%s, %s)", s, at, gap, s.RoundEnd(gap), s.RoundStart(gap+1))
	}
	next := s.NextBoundary(at)
	if !next.After(at) {
		t.Fatalf("%+v: NextBoundary(%s) = %s, not after it", s, at, next)
	}
	if k := s.OpenRound(next) - 1; !next.Equal(s.RoundStart(k)) && !next.Equal(s.RoundEnd(k)) {
		t.Fatalf("%+v: NextBoundary(%s) = %s is not a round start or end", s, at, next)
	}
	// The phase is the same on [at, next): states only move forward, so equal ends mean no boundary between.
	before := next.Add(-1)
	ex2, isExec2 := s.ExecutingRound(before)
	gap2, isGap2 := s.InGap(before)
	if s.OpenRound(before) != n || ex2 != ex || isExec2 != isExec || gap2 != gap || isGap2 != isGap {
		t.Fatalf("%+v: a boundary lies between %s and NextBoundary %s", s, at, next)
	}
}
