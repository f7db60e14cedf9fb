package round

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/durable"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// ScheduleFile, in the data directory, records the round timing the directory's rounds,
// members and proofs were made with. Round n means a different interval under another
// genesis or epoch, so a directory is never reused with other timing.
const ScheduleFile = "schedule.json"

// ErrScheduleMismatch reports a start whose round timing differs from the one recorded
// in the data directory.
var ErrScheduleMismatch = errors.New("the data directory belongs to another round schedule")

// scheduleRecord is ScheduleFile's content. Durations are Go duration strings, as the
// flags take them.
type scheduleRecord struct {
	Genesis       time.Time `json:"genesis"`
	EpochDuration string    `json:"epochDuration"`
	PhaseShift    string    `json:"phaseShift"`
	CycleGap      string    `json:"cycleGap"`
	RecordedAt    time.Time `json:"recordedAt"`
}

func (r scheduleRecord) schedule() (schedule.Schedule, error) {
	s := schedule.Schedule{Genesis: r.Genesis}
	for _, f := range []struct {
		name string
		text string
		dst  *time.Duration
	}{{"epochDuration", r.EpochDuration, &s.EpochDuration}, {"phaseShift", r.PhaseShift, &s.PhaseShift}, {"cycleGap", r.CycleGap, &s.CycleGap}} {
		d, err := time.ParseDuration(f.text)
		if err != nil {
			return s, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = d
	}
	return s, nil
}

// CheckSchedule compares s with the schedule recorded in dir. The first start records
// it (recorded is true) and so does the first start of a directory made before the
// record existed, or by the reference poet, whose timing only the configuration knows.
// A later start with other timing gets ErrScheduleMismatch naming both, and must not
// touch the directory: its rounds would be closed, re-proved or served under the wrong
// intervals.
func CheckSchedule(dir string, s schedule.Schedule, now time.Time) (recorded bool, err error) {
	path := filepath.Join(dir, ScheduleFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		rec := scheduleRecord{Genesis: s.Genesis.UTC(), EpochDuration: s.EpochDuration.String(),
			PhaseShift: s.PhaseShift.String(), CycleGap: s.CycleGap.String(), RecordedAt: now.UTC()}
		b, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			return false, fmt.Errorf("encoding %s: %w", ScheduleFile, err)
		}
		if err := durable.WriteFile(path, append(b, '\n')); err != nil {
			return false, fmt.Errorf("recording the schedule: %w", err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the recorded schedule: %w", err)
	}
	var rec scheduleRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return false, fmt.Errorf("%s is damaged (%v): restore it, or delete it to record this start's timing", path, err)
	}
	was, err := rec.schedule()
	if err != nil {
		return false, fmt.Errorf("%s is damaged (%v): restore it, or delete it to record this start's timing", path, err)
	}
	if was.Genesis.Equal(s.Genesis) && was.EpochDuration == s.EpochDuration &&
		was.PhaseShift == s.PhaseShift && was.CycleGap == s.CycleGap {
		return false, nil
	}
	return false, fmt.Errorf("%w: %s was made with genesis %s, epoch %s, phase shift %s, cycle gap %s; "+
		"this start has genesis %s, epoch %s, phase shift %s, cycle gap %s. Its rounds, members and proofs "+
		"belong to the recorded timing: start with that timing, or give another --datadir and --dbdir",
		ErrScheduleMismatch, dir, was.Genesis.UTC().Format(time.RFC3339Nano), was.EpochDuration, was.PhaseShift, was.CycleGap,
		s.Genesis.UTC().Format(time.RFC3339Nano), s.EpochDuration, s.PhaseShift, s.CycleGap)
}
