package round

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// layerFiles counts the executing round's layer files once a checkpoint (which writes
// every buffered node) holds more than 256 leaves, enough for files up to height 8: with
// DiskLayers 1 there is one file, with more there are more.
func layerFiles(t *testing.T, e *Engine, dir string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := e.Snapshot()
		if s.Executing && s.CheckpointLeaves > 256 {
			m, _ := filepath.Glob(filepath.Join(dir, "rounds", "*", "layercache_*.bin"))
			return len(m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no executing round with a checkpoint of 256 leaves: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runEngine(t *testing.T, cfg Config, reg *memRegistry) *Engine {
	t.Helper()
	e := New(cfg, reg, nil)
	testutil.Background(t, e.Run)
	return e
}

// Every round's rate is measured and kept in the data directory; without --lps the next
// round is sized by it, and the source is reported.
func TestLPSMeasuredPersistedAndUsed(t *testing.T) {
	dir := t.TempDir()
	s := schedule3s(time.Now())
	reg := newMemRegistry()
	reg.add(0, 1)
	e := runEngine(t, engineConfig(dir, s), reg)
	if snap := e.Snapshot(); snap.LPSSource != LPSDefault && snap.LPSSource != "" {
		t.Fatalf("before any round: %+v", snap)
	}
	waitProof(t, reg, 0)
	m, err := ReadMeasurement(dir)
	if err != nil || m.Round != 0 || m.LPS == 0 || m.Leaves == 0 || m.Seconds < minMeasure.Seconds() {
		t.Fatalf("measurement %+v %v", m, err)
	}
	if snap := e.Snapshot(); snap.LPS != m.LPS || snap.LPSSource != LPSMeasured {
		t.Fatalf("after round 0: lps %d from %q, want %d measured", snap.LPS, snap.LPSSource, m.LPS)
	}
	// The next round is sized by the measurement: a measured rate of 2^40 leaves/s puts
	// every layer of this small tree in files, where the configured 70,000 keeps one.
	dir2 := t.TempDir()
	if err := writeMeasurement(dir2, Measurement{LPS: 1 << 40, Round: 9}); err != nil {
		t.Fatal(err)
	}
	reg2 := newMemRegistry()
	e2 := runEngine(t, engineConfig(dir2, schedule3s(time.Now())), reg2)
	if n := layerFiles(t, e2, dir2); n < 5 {
		t.Fatalf("%d layer files: the measured rate did not size the round", n)
	}
	if snap := e2.Snapshot(); snap.LPS != 1<<40 || snap.LPSSource != LPSMeasured {
		t.Fatalf("lps %d from %q", snap.LPS, snap.LPSSource)
	}
}

// --lps wins over a measurement; a damaged measurement falls back to the default.
func TestLPSGivenAndFallback(t *testing.T) {
	dir := t.TempDir()
	if err := writeMeasurement(dir, Measurement{LPS: 1 << 40, Round: 9}); err != nil {
		t.Fatal(err)
	}
	cfg := engineConfig(dir, schedule3s(time.Now()))
	cfg.LPSGiven = true
	e := runEngine(t, cfg, newMemRegistry())
	if n := layerFiles(t, e, dir); n != 1 {
		t.Fatalf("%d layer files: the given rate did not size the round", n)
	}
	if snap := e.Snapshot(); snap.LPS != 70000 || snap.LPSSource != LPSGiven {
		t.Fatalf("lps %d from %q", snap.LPS, snap.LPSSource)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, LPSFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	e = New(engineConfig(bad, fastSchedule(time.Now())), newMemRegistry(), nil)
	if lps, src := e.chooseLPS(); lps != 70000 || src != LPSDefault {
		t.Fatalf("damaged file: %d %q", lps, src)
	}
	if _, err := ReadMeasurement(bad); err == nil || !strings.Contains(err.Error(), LPSFile) {
		t.Fatalf("ReadMeasurement of a damaged file: %v", err)
	}
	if lps, src := New(engineConfig(t.TempDir(), fastSchedule(time.Now())), newMemRegistry(), nil).chooseLPS(); lps != 70000 || src != LPSDefault {
		t.Fatalf("no file: %d %q", lps, src)
	}
}

// schedule3s has rounds of 2.5 s starting 300 ms after genesis.
func schedule3s(genesis time.Time) schedule.Schedule {
	return schedule.Schedule{Genesis: genesis, EpochDuration: 3 * time.Second, PhaseShift: 300 * time.Millisecond, CycleGap: 500 * time.Millisecond}
}

// Before the first round, with no rate given or measured, the engine calibrates for the
// configured time on a throwaway tree, where that ends calibrationMargin before the round
// starts, keeps the rate as "calibrated" and removes the tree; it never calibrates when
// a rate is given, one was measured, or the round starts too soon.
func TestCalibrationBeforeTheFirstRound(t *testing.T) {
	const d = 300 * time.Millisecond
	start := func(t *testing.T, cfg Config) (*Engine, context.CancelFunc, chan error) {
		e := New(cfg, newMemRegistry(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		return e, cancel, done
	}
	far := schedule.Schedule{Genesis: time.Now(), EpochDuration: time.Hour, PhaseShift: 10 * time.Minute, CycleGap: time.Minute}

	t.Run("calibrates", func(t *testing.T) {
		dir := t.TempDir()
		cfg := engineConfig(dir, far)
		cfg.Calibration = d
		e, cancel, done := start(t, cfg)
		defer func() { cancel(); <-done }()
		var m Measurement
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			var err error
			if m, err = ReadMeasurement(dir); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no calibration within a minute: %v", err)
			}
		}
		if !m.Calibration || m.LPS == 0 || m.Seconds < d.Seconds() || !m.MeasuredAt.Before(far.RoundStart(0).Add(-calibrationMargin)) {
			t.Fatalf("measurement %+v", m)
		}
		for deadline := time.Now().Add(time.Minute); e.Snapshot().LPSSource != LPSCalibrated; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("snapshot %+v", e.Snapshot())
			}
		}
		if s := e.Snapshot(); s.LPS != m.LPS || !s.LPSMeasuredAt.Equal(m.MeasuredAt) {
			t.Fatalf("snapshot %+v, measurement %+v", s, m)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "calibration")); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the calibration tree was not removed")
			}
		}
	})

	for name, change := range map[string]func(*Config){
		"rate given":          func(c *Config) { c.LPSGiven = true },
		"round starts soon":   func(c *Config) { c.Schedule.PhaseShift = calibrationMargin + d/2 },
		"registration only":   func(c *Config) { c.DisableWorker = true },
		"calibration off (0)": func(c *Config) { c.Calibration = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := engineConfig(dir, far)
			cfg.Schedule.Genesis = time.Now()
			cfg.Calibration = d
			change(&cfg)
			e := New(cfg, newMemRegistry(), nil)
			if err := e.calibrate(context.Background(), cfg.Schedule.RoundStart(0)); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadMeasurement(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a measurement was written: %v", err)
			}
		})
	}

	t.Run("measured already", func(t *testing.T) {
		dir := t.TempDir()
		was := Measurement{LPS: 1234, Round: 7, Leaves: 1234, Seconds: 1, MeasuredAt: time.Now().UTC()}
		if err := writeMeasurement(dir, was); err != nil {
			t.Fatal(err)
		}
		cfg := engineConfig(dir, far)
		cfg.Calibration = d
		if err := New(cfg, newMemRegistry(), nil).calibrate(context.Background(), far.RoundStart(0)); err != nil {
			t.Fatal(err)
		}
		if m, err := ReadMeasurement(dir); err != nil || m.Calibration || m.LPS != 1234 {
			t.Fatalf("measurement %+v %v, want the round's", m, err)
		}
	})
}
