package placement

import (
	"maps"
	"os"
	"slices"
	"testing"
)

func TestChoose(t *testing.T) {
	smt := map[int][]int{0: {0, 4}, 1: {1, 5}, 2: {2, 6}, 3: {3, 7}, 4: {0, 4}, 5: {1, 5}, 6: {2, 6}, 7: {3, 7}}
	noSMT := map[int][]int{0: {0}, 1: {1}, 2: {2}, 3: {3}}
	for _, tc := range []struct {
		name      string
		allowed   []int
		requested int
		siblings  map[int][]int
		irqs      map[int]uint64
		prover    int
		idle      []int
		rest      []int
		err       bool
	}{
		{"one CPU: nothing changes", []int{3}, -1, noSMT, nil, -1, nil, []int{3}, false}, {"one CPU, a CPU asked for", []int{3}, 3, noSMT, nil, -1, nil, []int{3}, true}, {"two CPUs, no SMT: the highest", []int{0, 1}, -1, noSMT, nil, 1, nil, []int{0}, false}, {"asked for CPU 0", []int{0, 1}, 0, noSMT, nil, 0, nil, []int{1}, false}, {"asked for a CPU not allowed", []int{0, 1}, 2, noSMT, nil, -1, nil, []int{0, 1}, true}, {"two whole cores: the sibling stays idle", []int{2, 3, 6, 7}, -1, smt, nil, 7, []int{3}, []int{2, 6}, false}, {"one whole core: the sibling is the rest", []int{3, 7}, -1, smt, nil, 7, nil, []int{3}, false}, {"half cores only: no sibling to keep free", []int{0, 1, 2}, -1, smt, nil, 2, nil, []int{0, 1}, false}, {"a core and a half: the whole core's CPU", []int{1, 2, 6}, -1, smt, nil, 6, []int{2}, []int{1}, false}, {"asked for a CPU of a whole core", []int{1, 2, 5, 6}, 2, smt, nil, 2, []int{6}, []int{1, 5}, false}, {"unsorted, duplicated input", []int{1, 0, 1}, -1, noSMT, nil, 1, nil, []int{0}, false}, {"no topology", []int{0, 1, 2}, -1, nil, nil, 2, nil, []int{0, 1}, false},
		{"disk interrupts on the highest: the other", []int{0, 1}, -1, noSMT, map[int]uint64{0: 35000, 1: 596000}, 0, nil, []int{1}, false},
		{"equal interrupts: the highest", []int{0, 1, 2}, -1, noSMT, map[int]uint64{0: 9, 1: 5, 2: 5}, 2, nil, []int{0, 1}, false},
		{"interrupts choose among whole cores only", []int{2, 3, 6, 7, 1}, -1, smt, map[int]uint64{1: 0, 2: 50, 3: 10, 6: 50, 7: 90}, 3, []int{7}, []int{1, 2, 6}, false},
		{"no whole core: the quietest CPU", []int{0, 1, 2}, -1, smt, map[int]uint64{0: 7, 1: 3, 2: 8}, 1, nil, []int{0, 2}, false},
		{"asked for a CPU: interrupts do not matter", []int{0, 1}, 1, noSMT, map[int]uint64{0: 0, 1: 1e6}, 1, nil, []int{0}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Choose(tc.allowed, tc.requested, tc.siblings, tc.irqs)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if p.Prover != tc.prover || !slices.Equal(p.Idle, tc.idle) || !slices.Equal(p.Rest, tc.rest) || p.Pinned() != (tc.prover >= 0) {
				t.Fatalf("%+v; want prover %d idle %v rest %v", p, tc.prover, tc.idle, tc.rest)
			}
		})
	}
}

func TestLists(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "0-3": "0-3", "3,0-1,8,9,10": "0-1,3,8-10", "5,5": "5"} {
		cpus, err := ParseList(in)
		if err != nil || FormatList(cpus) != want {
			t.Errorf("%q: %v %v, want %q", in, FormatList(cpus), err, want)
		}
	}
	for _, bad := range []string{"", "x", "3-1", "-1", "0-99999999"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) accepted", bad)
		}
	}
}

func TestSchedValidate(t *testing.T) {
	for _, ok := range []Sched{{}, {Policy: PolicyOther}, {Policy: PolicyFIFO, Priority: 1}, {Policy: PolicyRR, Priority: 99}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []Sched{{Policy: "idle"}, {Policy: PolicyFIFO}, {Policy: PolicyRR, Priority: 100}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if s := (Sched{Policy: PolicyFIFO, Priority: 10}).String(); s != "fifo:10" {
		t.Errorf("String() = %q", s)
	}
}

func TestGoMaxProcs(t *testing.T) {
	p, _ := Choose([]int{0, 1, 2, 3}, -1, nil, nil)
	for cur, want := range map[int]int{4: 4, 8: 4, 2: 2, 1: 4} {
		if got := p.GoMaxProcs(cur); got != want {
			t.Errorf("GoMaxProcs(%d) = %d, want %d", cur, got, want)
		}
	}
	one, _ := Choose([]int{0}, -1, nil, nil)
	if one.GoMaxProcs(1) != 1 {
		t.Error("an unpinned plan changes GOMAXPROCS")
	}
}

func TestParseInterrupts(t *testing.T) {
	// This repository's test VM: its disk's completions (virtio1-req.0) all go to CPU 1.
	b, err := os.ReadFile("testdata/interrupts-firecracker-2cpu")
	if err != nil {
		t.Fatal(err)
	}
	got := ParseInterrupts(string(b))
	if len(got) != 2 || got[1] <= got[0] {
		t.Fatalf("%v: want two CPUs, CPU 1 with more device interrupts", got)
	}
	p, err := Choose([]int{0, 1}, -1, map[int][]int{0: {0}, 1: {1}}, got)
	if err != nil || p.Prover != 0 {
		t.Fatalf("%+v %v: want the prover on CPU 0, away from the disk's interrupts", p, err)
	}
	const text = `           CPU0       CPU1       CPU2
  0:         10          0          0   IO-APIC   2-edge      timer
 24:          1          2          3   PCI-MSI 1-edge      nvme0q0
 25:          0          0 PCI-MSI 2-edge eth0
NMI:        100        200        300   Non-maskable interrupts
LOC:       5000       6000       7000   Local timer interrupts
ERR:          0
`
	want := map[int]uint64{0: 11, 1: 2, 2: 3}
	if got := ParseInterrupts(text); !maps.Equal(got, want) {
		t.Fatalf("ParseInterrupts = %v, want %v (device rows only; a short row counts what it has)", got, want)
	}
	for _, bad := range []string{"", "garbage\n1: 2 3", "CPUx CPU1\n 1: 2 3"} {
		if got := ParseInterrupts(bad); got != nil {
			t.Errorf("ParseInterrupts(%q) = %v, want nil", bad, got)
		}
	}
}
