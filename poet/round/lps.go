package round

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/durable"
	"github.com/poet-operator/poet-operator/poet/prover"
)

// Where the leaves/s that sizes a round's in-memory layers comes from.
const (
	// LPSGiven is --lps (or lps in the config file): the operator's word always wins.
	LPSGiven = "given"
	// LPSMeasured is the rate the prover reached in the last round it ran, from LPSFile.
	LPSMeasured = "measured"
	// LPSDefault is the default estimate: nothing given, nothing measured yet.
	LPSDefault = "default"
	// LPSCalibrated is the rate of a calibration run before the first round, from
	// LPSFile, until a round's own measurement replaces it.
	LPSCalibrated = "calibrated"
)

// calibrationMargin is the least time a calibration leaves before the round it precedes.
const calibrationMargin = 30 * time.Second

// LPSFile, in the data directory, holds the last round's measured rate.
const LPSFile = "lps.json"

// minMeasure is the shortest run of the prover whose rate is recorded.
const minMeasure = 500 * time.Millisecond

// Measurement is a round's measured prover rate.
type Measurement struct {
	// LPS is leaves per second over the part of the round this process ran.
	LPS uint64 `json:"lps"`
	// Round is the round measured.
	Round uint64 `json:"round"`
	// Leaves and Seconds are what the rate was computed from.
	Leaves  uint64  `json:"leaves"`
	Seconds float64 `json:"seconds"`
	// MeasuredAt is when the round (or calibration) finished.
	MeasuredAt time.Time `json:"measuredAt"`
	// Calibration marks a calibration run's rate, not a round's (Round is then 0).
	Calibration bool `json:"calibration,omitempty"`
}

// ReadMeasurement reads LPSFile from dir; os.ErrNotExist when there is none.
func ReadMeasurement(dir string) (Measurement, error) {
	var m Measurement
	b, err := os.ReadFile(filepath.Join(dir, LPSFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decoding %s: %w", LPSFile, err)
	}
	if m.LPS == 0 {
		return m, fmt.Errorf("decoding %s: no rate", LPSFile)
	}
	return m, nil
}

func writeMeasurement(dir string, m Measurement) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", LPSFile, err)
	}
	if err := durable.WriteFile(filepath.Join(dir, LPSFile), b); err != nil {
		return fmt.Errorf("writing %s: %w", LPSFile, err)
	}
	return nil
}

// chooseLPS is the rate that sizes the next round and where it comes from: the given
// one, else the last measurement (of a round or a calibration), else the default. It
// records the rate for status and metrics.
func (e *Engine) chooseLPS() (uint64, string) {
	if e.cfg.LPSGiven {
		e.useLPS(e.cfg.LPS, LPSGiven, time.Time{})
		return e.cfg.LPS, LPSGiven
	}
	m, err := ReadMeasurement(e.cfg.DataDir)
	switch {
	case err == nil && m.Calibration:
		e.useLPS(m.LPS, LPSCalibrated, m.MeasuredAt)
		return m.LPS, LPSCalibrated
	case err == nil:
		e.useLPS(m.LPS, LPSMeasured, m.MeasuredAt)
		return m.LPS, LPSMeasured
	case !errors.Is(err, os.ErrNotExist):
		e.log.Warn("ignoring the measured leaves/s", "error", err)
	}
	e.useLPS(e.cfg.LPS, LPSDefault, time.Time{})
	return e.cfg.LPS, LPSDefault
}

// useLPS records the rate in use for status and metrics.
func (e *Engine) useLPS(lps uint64, source string, at time.Time) {
	e.mu.Lock()
	e.lps, e.lpsSource, e.lpsAt = lps, source, at
	e.mu.Unlock()
}

// measure records the rate of a round this process ran for at least minMeasure.
func (e *Engine) measure(n uint64, leaves uint64, elapsed time.Duration) {
	if elapsed < minMeasure || leaves == 0 {
		return
	}
	m := Measurement{LPS: uint64(float64(leaves) / elapsed.Seconds()), Round: n, Leaves: leaves,
		Seconds: elapsed.Seconds(), MeasuredAt: e.cfg.Now().UTC()}
	if m.LPS == 0 {
		return
	}
	if err := writeMeasurement(e.cfg.DataDir, m); err != nil {
		e.log.Warn("not keeping the measured leaves/s", "round", n, "lps", m.LPS, "error", err)
		return
	}
	e.log.Info("measured leaves/s", "round", n, "lps", m.LPS, "leaves", leaves, "seconds", m.Seconds)
	if !e.cfg.LPSGiven {
		e.useLPS(m.LPS, LPSMeasured, m.MeasuredAt)
	}
}

// calibrate measures the prover's rate on a throwaway tree for Config.Calibration when
// nothing else tells it (no --lps, no earlier measurement) and the run ends
// calibrationMargin before start, the next round's start: a calibration never overlaps
// a round. It runs the prover exactly as a round does (its process, its CPU).
func (e *Engine) calibrate(ctx context.Context, start time.Time) error {
	d := e.cfg.Calibration
	if d <= 0 || e.cfg.LPSGiven || e.cfg.DisableWorker {
		return nil
	}
	if _, err := ReadMeasurement(e.cfg.DataDir); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil // measured already (or a damaged file, which chooseLPS reports)
	}
	now := e.cfg.Now()
	if now.Add(d + calibrationMargin).After(start) {
		e.log.Info("no time to calibrate before the next round", "calibration", d, "roundStart", start)
		return nil
	}
	dir := filepath.Join(e.cfg.DataDir, "calibration")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	defer os.RemoveAll(dir)
	e.log.Info("calibrating the prover", "duration", d)
	progress := &prover.Progress{}
	started := e.cfg.Now()
	_, err := e.runProver(ctx, prover.Config{
		Dir:                dir,
		Statement:          []byte("poet-operator prover calibration"),
		End:                started.Add(d),
		DiskLayers:         prover.DiskLayers(d, e.cfg.LPS, e.cfg.MemoryLayers),
		TreeFileBuffer:     e.cfg.TreeFileBuffer,
		CheckpointInterval: time.Hour, // nothing to resume
		Progress:           progress,
		Logger:             e.log.With("calibration", true),
	})
	if err != nil {
		return err
	}
	elapsed := e.cfg.Now().Sub(started)
	m := Measurement{LPS: uint64(float64(progress.Leaves()) / elapsed.Seconds()), Leaves: progress.Leaves(),
		Seconds: elapsed.Seconds(), MeasuredAt: e.cfg.Now().UTC(), Calibration: true}
	if m.LPS == 0 {
		return fmt.Errorf("%d leaves in %s", m.Leaves, elapsed)
	}
	if err := writeMeasurement(e.cfg.DataDir, m); err != nil {
		return err
	}
	e.log.Info("calibrated leaves/s", "lps", m.LPS, "leaves", m.Leaves, "seconds", m.Seconds)
	e.useLPS(m.LPS, LPSCalibrated, m.MeasuredAt)
	return nil
}
