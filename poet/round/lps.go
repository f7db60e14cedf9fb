package round

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/durable"
)

// Where the leaves/s that sizes a round's in-memory layers comes from.
const (
	// LPSGiven is --lps (or lps in the config file): the operator's word always wins.
	LPSGiven = "given"
	// LPSMeasured is the rate the prover reached in the last round it ran, from LPSFile.
	LPSMeasured = "measured"
	// LPSDefault is the default estimate: nothing given, nothing measured yet.
	LPSDefault = "default"
)

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
	// MeasuredAt is when the round finished.
	MeasuredAt time.Time `json:"measuredAt"`
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
// one, else the last measurement, else the default.
func (e *Engine) chooseLPS() (uint64, string) {
	if e.cfg.LPSGiven {
		return e.cfg.LPS, LPSGiven
	}
	m, err := ReadMeasurement(e.cfg.DataDir)
	switch {
	case err == nil:
		return m.LPS, LPSMeasured
	case !errors.Is(err, os.ErrNotExist):
		e.log.Warn("ignoring the measured leaves/s", "error", err)
	}
	return e.cfg.LPS, LPSDefault
}

// useLPS records the rate in use for status and metrics.
func (e *Engine) useLPS(lps uint64, source string) {
	e.mu.Lock()
	e.lps, e.lpsSource = lps, source
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
		e.useLPS(m.LPS, LPSMeasured)
	}
}
