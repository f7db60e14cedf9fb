package cpuinfo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCountList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3": 4, "0-3,8,10-11": 7, "5-5": 1} {
		if got, err := CountList(in); err != nil || got != want {
			t.Errorf("CountList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "1-", "-1", "1,,2"} {
		if _, err := CountList(bad); err == nil {
			t.Errorf("CountList(%q) accepted", bad)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, cpus, online, cpuMax string
		exclusive                  bool
	}{
		{"static manager, 1 exclusive CPU", "3", "0-7", "100000 100000", true},
		{"static manager, 2 exclusive CPUs", "2-3", "0-7", "200000 100000", true},
		{"shared pool", "0-1,4-7", "0-7", "100000 100000", false},
		{"fractional limit", "3", "0-7", "50000 100000", false},
		{"no limit", "3", "0-7", "max 100000", false},
		{"whole machine", "0-1", "0-1", "200000 100000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := Paths{Status: filepath.Join(dir, "status"), Online: filepath.Join(dir, "online"), CPUMax: filepath.Join(dir, "cpu.max")}
			os.WriteFile(p.Status, []byte("Name:\tpoet\nCpus_allowed:\tff\nCpus_allowed_list:\t"+tc.cpus+"\n"), 0o600)
			os.WriteFile(p.Online, []byte(tc.online+"\n"), 0o600)
			os.WriteFile(p.CPUMax, []byte(tc.cpuMax+"\n"), 0o600)
			info, err := Detect(p)
			if err != nil {
				t.Fatal(err)
			}
			if info.Exclusive != tc.exclusive || info.Cpuset != tc.cpus {
				t.Fatalf("%+v", info)
			}
		})
	}
}

func TestDetectHere(t *testing.T) {
	info, err := Detect(DefaultPaths)
	if err != nil {
		t.Skipf("not Linux with /proc: %v", err)
	}
	if info.CPUs < 1 || info.Online < info.CPUs {
		t.Fatalf("%+v", info)
	}
}
