package round

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

func TestCheckSchedule(t *testing.T) {
	genesis := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	base := schedule.Schedule{Genesis: genesis, EpochDuration: time.Hour, PhaseShift: 30 * time.Minute, CycleGap: 10 * time.Minute}
	now := genesis.Add(-time.Hour)

	dir := t.TempDir()
	recorded, err := CheckSchedule(dir, base, now)
	if err != nil || !recorded {
		t.Fatalf("first start: recorded=%v err=%v, want a record", recorded, err)
	}
	same := base
	same.Genesis = genesis.In(time.FixedZone("UTC+2", 2*3600)) // the same instant, written otherwise
	if recorded, err := CheckSchedule(dir, same, now.Add(time.Hour)); err != nil || recorded {
		t.Fatalf("same timing: recorded=%v err=%v, want neither", recorded, err)
	}

	for _, tc := range []struct {
		name   string
		change func(*schedule.Schedule)
		says   string
	}{
		{"genesis", func(s *schedule.Schedule) { s.Genesis = s.Genesis.Add(time.Nanosecond) }, "2026-11-30T02:00:00.000000001Z"},
		{"epoch", func(s *schedule.Schedule) { s.EpochDuration = 2 * time.Hour }, "epoch 2h0m0s"},
		{"phase shift", func(s *schedule.Schedule) { s.PhaseShift = 0 }, "phase shift 0s"},
		{"cycle gap", func(s *schedule.Schedule) { s.CycleGap = time.Minute }, "cycle gap 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			tc.change(&s)
			_, err := CheckSchedule(dir, s, now)
			if !errors.Is(err, ErrScheduleMismatch) {
				t.Fatalf("got %v, want ErrScheduleMismatch", err)
			}
			for _, want := range []string{"genesis 2026-11-30T02:00:00Z, epoch 1h0m0s, phase shift 30m0s, cycle gap 10m0s", tc.says, dir} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
		})
	}
	if _, err := CheckSchedule(dir, base, now); err != nil {
		t.Fatalf("refusals changed the record: %v", err)
	}
}

func TestCheckScheduleDamagedRecord(t *testing.T) {
	s := schedule.Schedule{Genesis: time.Unix(0, 0), EpochDuration: time.Hour}
	for name, content := range map[string]string{
		"not json":     "{",
		"bad duration": `{"genesis":"1970-01-01T00:00:00Z","epochDuration":"an hour","phaseShift":"0s","cycleGap":"0s"}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ScheduleFile), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := CheckSchedule(dir, s, time.Now())
			if err == nil || !strings.Contains(err.Error(), "is damaged") || errors.Is(err, ErrScheduleMismatch) {
				t.Fatalf("got %v, want a damaged-record error", err)
			}
		})
	}
}
