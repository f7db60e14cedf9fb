// Package cpuinfo tells whether this process has CPUs to itself: under the kubelet's
// static CPU manager a Guaranteed container with whole CPUs gets an exclusive cpuset
// whose size equals its CPU limit, while shared-pool containers see the whole pool.
package cpuinfo

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Info describes the CPUs this process may run on.
type Info struct {
	// Cpuset is the list of CPUs the process may run on, e.g. "2-3".
	Cpuset string
	// CPUs is the number of CPUs in Cpuset.
	CPUs int
	// Online is the number of online CPUs of the machine.
	Online int
	// Limit is the cgroup CPU limit in CPUs, 0 when unlimited.
	Limit float64
	// Exclusive reports a pinned cpuset (a strict subset of the online CPUs) of exactly
	// as many CPUs as a whole-number CPU limit: what the static CPU manager grants.
	Exclusive bool
}

// Paths are the files Detect reads; tests point them elsewhere.
type Paths struct {
	Status string // /proc/self/status (Cpus_allowed_list)
	Online string // /sys/devices/system/cpu/online
	CPUMax string // /sys/fs/cgroup/cpu.max (cgroup v2)
}

// DefaultPaths are the Linux locations.
var DefaultPaths = Paths{
	Status: "/proc/self/status",
	Online: "/sys/devices/system/cpu/online",
	CPUMax: "/sys/fs/cgroup/cpu.max",
}

// Detect reads the process's CPU placement.
func Detect(p Paths) (Info, error) {
	var info Info
	status, err := os.ReadFile(p.Status)
	if err != nil {
		return info, fmt.Errorf("reading cpuset: %w", err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			info.Cpuset = strings.TrimSpace(v)
		}
	}
	if info.CPUs, err = CountList(info.Cpuset); err != nil {
		return info, fmt.Errorf("parsing cpuset %q: %w", info.Cpuset, err)
	}
	online, err := os.ReadFile(p.Online)
	if err != nil {
		return info, fmt.Errorf("reading online CPUs: %w", err)
	}
	if info.Online, err = CountList(strings.TrimSpace(string(online))); err != nil {
		return info, fmt.Errorf("parsing online CPUs: %w", err)
	}
	if b, err := os.ReadFile(p.CPUMax); err == nil {
		info.Limit = parseCPUMax(string(b))
	}
	info.Exclusive = info.CPUs > 0 && info.CPUs < info.Online &&
		info.Limit > 0 && info.Limit == math.Trunc(info.Limit) && int(info.Limit) == info.CPUs
	return info, nil
}

// parseCPUMax reads cgroup v2 "quota period" ("max 100000" is unlimited).
func parseCPUMax(s string) float64 {
	f := strings.Fields(s)
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	q, err1 := strconv.ParseFloat(f[0], 64)
	per, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || per <= 0 {
		return 0
	}
	return q / per
}

// CountList counts the CPUs of a Linux CPU list such as "0-3,8,10-11".
func CountList(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty CPU list")
	}
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("bad CPU %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("bad CPU range %q", part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}
