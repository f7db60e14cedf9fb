package cpuinfo

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCountList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3": 4, "0-3,8,10-11": 7, "5-5": 1} {
		if got, err := CountList(in); err != nil || got != want {
			t.Errorf("CountList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "1-", "-1", "1,,2", "0-99999999"} {
		if _, err := CountList(bad); err == nil {
			t.Errorf("CountList(%q) accepted", bad)
		}
	}
}

// The trees under testdata are the files a container sees (/proc/self/cgroup,
// /proc/self/mountinfo, /proc/self/status, the online CPUs and its cgroup's cpu and
// cpuset files) under cgroup v1, v1 with an empty cgroup2 beside it, and v2, for
// kubelets that keep the CFS quota of exclusive containers (before v1.33) and that
// remove it (v1.33 on). this-machine-v1-hybrid is copied from the development machine.
func TestDetectRecordedTrees(t *testing.T) {
	for _, tc := range []struct {
		tree      string
		given     int64 // the limit from the downward API, millicores
		exclusive bool
		cpuset    string
		version   int
		source    string
		reason    string
	}{
		{"v1-kubelet-1.32-exclusive", 0, true, "2-3", 1, "quota", "a CFS quota equal to it"},
		{"v1-kubelet-1.32-exclusive", 2000, true, "2-3", 1, "given", "a CFS quota equal to it"},
		{"v1-kubelet-1.33-exclusive", 2000, true, "2-3", 1, "given", "no CFS quota"},
		{"v1-kubelet-1.33-exclusive", 0, false, "2-3", 1, "", "the CPU limit is unknown"},
		{"v1-kubelet-1.33-exclusive", 3000, false, "2-3", 1, "given", "has 2 CPUs but the CPU limit is 3"},
		{"v1-hybrid-kubelet-1.33-exclusive", 2000, true, "2-3", 1, "given", "no CFS quota"},
		{"v1-besteffort", 0, false, "0-7", 1, "", "the CPU limit is unknown"},
		{"v1-kubelet-1.32-shared-pool", 2000, false, "0-1,4-7", 1, "given", "has 6 CPUs but the CPU limit is 2"},
		{"v2-kubelet-1.32-exclusive", 0, true, "2-3", 2, "quota", "a CFS quota equal to it"},
		{"v2-kubelet-1.33-exclusive", 2000, true, "2-3", 2, "given", "no CFS quota"},
		{"v2-kubelet-1.33-exclusive", 0, false, "2-3", 2, "", "the CPU limit is unknown"},
		{"v2-kubelet-1.33-exclusive", 2500, false, "2-3", 2, "given", "not a whole number"},
		{"v2-kubelet-1.33-shared-pool", 2000, false, "0-1,4-7", 2, "given", "has 6 CPUs"},
		{"v2-kubelet-1.32-exclusive", 1000, false, "2-3", 2, "given", "has 2 CPUs but the CPU limit is 1"},
		{"v2-shared-pool-reserved", 7000, true, "1-7", 2, "given", "strict subset"},
		{"v2-fractional", 0, false, "0-7", 2, "quota", "1500m is not a whole number"},
		{"v2-none-policy-whole-node", 0, false, "0-7", 2, "quota", "every online CPU"},
		{"v2-host-cgroupns-kubelet-1.33-exclusive", 2000, true, "4-5", 2, "given", "no CFS quota"},
		{"this-machine-v1-hybrid", 0, false, "0-1", 1, "", "the CPU limit is unknown"},
		{"this-machine-v1-hybrid", 2000, false, "0-1", 1, "given", "every online CPU"},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			info, err := Detect(filepath.Join("testdata", tc.tree), tc.given)
			if err != nil {
				t.Fatal(err)
			}
			if info.Exclusive != tc.exclusive || info.Cpuset != tc.cpuset || info.CgroupVersion != tc.version ||
				info.LimitSource != tc.source || !strings.Contains(info.Reason, tc.reason) {
				t.Fatalf("given %d: %+v; want exclusive %v cpuset %s v%d source %q reason ~%q",
					tc.given, info, tc.exclusive, tc.cpuset, tc.version, tc.source, tc.reason)
			}
		})
	}
}

// A quota that differs from the cpuset while the given limit matches it is not exclusive.
func TestDetectQuotaDisagrees(t *testing.T) {
	info, err := Detect(filepath.Join("testdata", "v1-kubelet-1.32-exclusive"), 2000)
	if err != nil || !info.Exclusive || info.QuotaMillis != 2000 {
		t.Fatalf("%+v %v", info, err)
	}
	info.QuotaMillis = 1000
	set, _ := ParseList(info.Cpuset)
	online, _ := ParseList("0-7")
	if ok, why := judge(info, set, online); ok || !strings.Contains(why, "CFS quota 1000m differs") {
		t.Fatalf("%v %q", ok, why)
	}
}

func TestDetectMissingFiles(t *testing.T) {
	if _, err := Detect(t.TempDir(), 0); err == nil {
		t.Fatal("an empty tree was accepted")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/x\04`: `/x\04`} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetectHere(t *testing.T) {
	info, err := Detect("/", 0)
	if err != nil {
		t.Skipf("not Linux with /proc: %v", err)
	}
	if info.CPUs < 1 || info.Online < info.CPUs || info.Reason == "" {
		t.Fatalf("%+v", info)
	}
}
