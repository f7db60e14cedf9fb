// Package cpuinfo tells whether this container has CPUs to itself: under the kubelet's
// static CPU manager a Guaranteed container with whole CPUs gets an exclusive cpuset
// whose size equals its CPU limit, while shared-pool containers see the whole pool.
//
// What a container can see: its cgroup's cpuset, the node's online CPUs and its CFS
// quota. Since kubelet v1.33 (DisableCPUQuotaWithExclusiveCPUs, locked on in v1.37) the
// quota of a container with exclusive CPUs is removed, so the CPU limit must come from
// elsewhere: the operator passes the container's limits.cpu through the downward API
// (LimitEnv). Detect works on cgroup v1 (also with an empty cgroup2 hierarchy mounted
// beside it) and on cgroup v2.
package cpuinfo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/poet-operator/poet-operator/poet/placement"
)

// LimitEnv is the environment variable holding the container's CPU limit in millicores,
// as the downward API writes it for resourceFieldRef limits.cpu with divisor 1m.
const LimitEnv = "POET_CPU_LIMIT_MILLIS"

// Info describes the CPUs this container may run on.
type Info struct {
	// Cpuset is the container's cpuset, e.g. "2-3": the cgroup's effective CPUs, or the
	// process's Cpus_allowed_list where the cgroup does not say.
	Cpuset string
	// CPUs is the number of CPUs in Cpuset.
	CPUs int
	// Online is the number of online CPUs of the node.
	Online int
	// CgroupVersion is 1 or 2: the hierarchy holding the cpu controller; 0 when unknown.
	CgroupVersion int
	// QuotaMillis is the CFS quota in millicores, 0 when there is none.
	QuotaMillis int64
	// LimitMillis is the CPU limit in millicores: the one given (LimitEnv), else the
	// quota; 0 when unknown.
	LimitMillis int64
	// LimitSource says where LimitMillis came from: "given", "quota" or "".
	LimitSource string
	// Exclusive reports a cpuset of exactly the container's whole CPUs, a strict subset of
	// the node's online CPUs, with no quota or a quota equal to it: what the static CPU
	// manager grants and, as far as a container can tell, no other container runs there.
	Exclusive bool
	// Reason says in one sentence why Exclusive is what it is.
	Reason string
}

// Detect reads the placement of the calling process under root ("/" on a live system;
// tests pass a recorded tree). givenLimitMillis is the container's CPU limit when the
// caller knows it (0 when not). Call it before changing any thread's affinity.
func Detect(root string, givenLimitMillis int64) (Info, error) {
	var info Info
	mounts, err := readMounts(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return info, err
	}
	groups, err := readCgroups(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return info, err
	}
	online, err := os.ReadFile(filepath.Join(root, "sys/devices/system/cpu/online"))
	if err != nil {
		return info, fmt.Errorf("reading online CPUs: %w", err)
	}
	onlineSet, err := ParseList(strings.TrimSpace(string(online)))
	if err != nil {
		return info, fmt.Errorf("parsing online CPUs: %w", err)
	}
	info.Online = len(onlineSet)

	cpusetDir, cpusetV := controllerDir(root, mounts, groups, "cpuset")
	switch {
	case cpusetV == 1:
		info.Cpuset = firstFile(filepath.Join(cpusetDir, "cpuset.effective_cpus"), filepath.Join(cpusetDir, "cpuset.cpus"))
	case cpusetV == 2:
		info.Cpuset = firstFile(filepath.Join(cpusetDir, "cpuset.cpus.effective"))
	}
	if info.Cpuset == "" {
		if info.Cpuset, err = allowedList(filepath.Join(root, "proc/self/status")); err != nil {
			return info, err
		}
	}
	set, err := ParseList(info.Cpuset)
	if err != nil {
		return info, fmt.Errorf("parsing cpuset %q: %w", info.Cpuset, err)
	}
	info.CPUs = len(set)

	cpuDir, cpuV := controllerDir(root, mounts, groups, "cpu")
	info.CgroupVersion = cpuV
	switch cpuV {
	case 1:
		info.QuotaMillis, err = quotaV1(cpuDir)
	case 2:
		info.QuotaMillis, err = quotaV2(cpuDir)
	}
	if err != nil {
		return info, err
	}
	switch {
	case givenLimitMillis > 0:
		info.LimitMillis, info.LimitSource = givenLimitMillis, "given"
	case info.QuotaMillis > 0:
		info.LimitMillis, info.LimitSource = info.QuotaMillis, "quota"
	}
	info.Exclusive, info.Reason = judge(info, set, onlineSet)
	return info, nil
}

// judge applies the rule: a cpuset of exactly the limit's whole CPUs, a strict subset of
// the online CPUs, and no quota or a quota equal to the cpuset.
func judge(info Info, set, online map[int]bool) (bool, string) {
	cpus := int64(info.CPUs) * 1000
	switch {
	case info.LimitMillis == 0:
		return false, "the CPU limit is unknown: no CFS quota and " + LimitEnv + " is not set"
	case info.LimitMillis%1000 != 0:
		return false, fmt.Sprintf("the CPU limit %dm is not a whole number of CPUs", info.LimitMillis)
	case info.LimitMillis != cpus:
		return false, fmt.Sprintf("the cpuset %s has %d CPUs but the CPU limit is %d: a shared pool", info.Cpuset, info.CPUs, info.LimitMillis/1000)
	case info.QuotaMillis != 0 && info.QuotaMillis != cpus:
		return false, fmt.Sprintf("the CFS quota %dm differs from the cpuset's %d CPUs", info.QuotaMillis, info.CPUs)
	}
	for c := range set {
		if !online[c] {
			return false, fmt.Sprintf("the cpuset %s holds CPU %d, which is not online", info.Cpuset, c)
		}
	}
	if len(set) >= len(online) {
		return false, fmt.Sprintf("the cpuset %s is every online CPU of the node", info.Cpuset)
	}
	quota := "no CFS quota"
	if info.QuotaMillis != 0 {
		quota = "a CFS quota equal to it"
	}
	return true, fmt.Sprintf("the cpuset %s is the container's %d whole CPUs, a strict subset of the node's %d, with %s", info.Cpuset, info.CPUs, len(online), quota)
}

// quotaV1 reads cpu.cfs_quota_us and cpu.cfs_period_us; -1 is no quota.
func quotaV1(dir string) (int64, error) {
	q, err := readInt(filepath.Join(dir, "cpu.cfs_quota_us"))
	if err != nil || q < 0 {
		return 0, ignoreMissing(err)
	}
	p, err := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
	if err != nil {
		return 0, ignoreMissing(err)
	}
	if p <= 0 {
		return 0, fmt.Errorf("reading %s: CFS period %d", dir, p)
	}
	return q * 1000 / p, nil
}

// quotaV2 reads cpu.max, "quota period" or "max period".
func quotaV2(dir string) (int64, error) {
	name := filepath.Join(dir, "cpu.max")
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, ignoreMissing(err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("parsing %s: %q", name, b)
	}
	if f[0] == "max" {
		return 0, nil
	}
	period := int64(100000)
	q, err := strconv.ParseInt(f[0], 10, 64)
	if err == nil && len(f) == 2 {
		period, err = strconv.ParseInt(f[1], 10, 64)
	}
	if err != nil || q <= 0 || period <= 0 {
		return 0, fmt.Errorf("parsing %s: %q", name, b)
	}
	return q * 1000 / period, nil
}

// ignoreMissing treats a missing or unreadable control file as absent: not every
// hierarchy has every file (a root cgroup has no cpu.max).
func ignoreMissing(err error) error {
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return nil
	}
	return err
}

func readInt(name string) (int64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing %s: %w", name, err)
	}
	return v, nil
}

// firstFile is the trimmed content of the first non-empty readable file.
func firstFile(names ...string) string {
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return ""
}

// allowedList is Cpus_allowed_list from a /proc/<pid>/status file.
func allowedList(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("reading cpuset: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("reading cpuset: no Cpus_allowed_list in %s", name)
}

// mount is a cgroup filesystem from mountinfo.
type mount struct {
	root, point string
	v2          bool
	controllers map[string]bool // v1 only
}

func readMounts(name string) ([]mount, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root point options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		m := mount{root: unescape(a[3]), point: unescape(a[4])}
		switch b[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			m.controllers = map[string]bool{}
			for o := range strings.SplitSeq(b[2], ",") {
				m.controllers[o] = true
			}
		default:
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	return out, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroups maps a v1 controller (or "" for the v2 hierarchy) to the process's path.
type cgroups map[string]string

func readCgroups(name string) (cgroups, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading cgroups: %w", err)
	}
	out := cgroups{}
	for line := range strings.Lines(string(b)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			out[""] = f[2]
			continue
		}
		for c := range strings.SplitSeq(f[1], ",") {
			out[c] = f[2]
		}
	}
	return out, nil
}

// controllerDir is the process's cgroup directory for a controller and the version of
// its hierarchy: a v1 hierarchy with the controller wins over the v2 one (a hybrid
// system mounts an empty cgroup2 beside v1). It returns version 0 when neither exists.
func controllerDir(root string, mounts []mount, groups cgroups, controller string) (string, int) {
	for _, m := range mounts {
		if !m.v2 && m.controllers[controller] {
			if p, ok := groups[controller]; ok {
				return cgroupPath(root, m, p), 1
			}
		}
	}
	for _, m := range mounts {
		if m.v2 {
			if p, ok := groups[""]; ok {
				dir := cgroupPath(root, m, p)
				if !v2HasController(root, m, controller) {
					continue
				}
				return dir, 2
			}
		}
	}
	return "", 0
}

// v2HasController reports whether the cgroup2 mount offers the controller; an empty
// cgroup2 on a hybrid system offers none.
func v2HasController(root string, m mount, controller string) bool {
	b, err := os.ReadFile(filepath.Join(root, m.point, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(b)) {
		if c == controller {
			return true
		}
	}
	return false
}

// cgroupPath places the process's cgroup path under the mount: the path is relative to
// the hierarchy's root, the mount shows the hierarchy from m.root. A container usually
// has its own cgroup mounted at the mount point (namespaced or bind-mounted), which is
// where a path outside the mount's root leads.
func cgroupPath(root string, m mount, p string) string {
	rel, ok := strings.CutPrefix(p, m.root)
	if m.root == "/" {
		rel, ok = p, true
	}
	if ok && (rel == "" || strings.HasPrefix(rel, "/")) {
		dir := filepath.Join(root, m.point, rel)
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	return filepath.Join(root, m.point)
}

// ParseList parses a Linux CPU list such as "0-3,8,10-11" into a set.
func ParseList(s string) (map[int]bool, error) {
	cpus, err := placement.ParseList(s)
	if err != nil {
		return nil, err
	}
	set := make(map[int]bool, len(cpus))
	for _, c := range cpus {
		set[c] = true
	}
	return set, nil
}

// CountList counts the CPUs of a Linux CPU list such as "0-3,8,10-11".
func CountList(s string) (int, error) {
	set, err := ParseList(s)
	return len(set), err
}
