package placement

import (
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
		prover    int
		idle      []int
		rest      []int
		err       bool
	}{
		{"one CPU: nothing changes", []int{3}, -1, noSMT, -1, nil, []int{3}, false},
		{"one CPU, a CPU asked for", []int{3}, 3, noSMT, -1, nil, []int{3}, true},
		{"two CPUs, no SMT: the highest", []int{0, 1}, -1, noSMT, 1, nil, []int{0}, false},
		{"asked for CPU 0", []int{0, 1}, 0, noSMT, 0, nil, []int{1}, false},
		{"asked for a CPU not allowed", []int{0, 1}, 2, noSMT, -1, nil, []int{0, 1}, true},
		{"two whole cores: the sibling stays idle", []int{2, 3, 6, 7}, -1, smt, 7, []int{3}, []int{2, 6}, false},
		{"one whole core: the sibling is the rest", []int{3, 7}, -1, smt, 7, nil, []int{3}, false},
		{"half cores only: no sibling to keep free", []int{0, 1, 2}, -1, smt, 2, nil, []int{0, 1}, false},
		{"a core and a half: the whole core's CPU", []int{1, 2, 6}, -1, smt, 6, []int{2}, []int{1}, false},
		{"asked for a CPU of a whole core", []int{1, 2, 5, 6}, 2, smt, 2, []int{6}, []int{1, 5}, false},
		{"unsorted, duplicated input", []int{1, 0, 1}, -1, noSMT, 1, nil, []int{0}, false},
		{"no topology", []int{0, 1, 2}, -1, nil, 2, nil, []int{0, 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Choose(tc.allowed, tc.requested, tc.siblings)
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
	p, _ := Choose([]int{0, 1, 2, 3}, -1, nil)
	for cur, want := range map[int]int{4: 4, 8: 4, 2: 2, 1: 4} {
		if got := p.GoMaxProcs(cur); got != want {
			t.Errorf("GoMaxProcs(%d) = %d, want %d", cur, got, want)
		}
	}
	one, _ := Choose([]int{0}, -1, nil)
	if one.GoMaxProcs(1) != 1 {
		t.Error("an unpinned plan changes GOMAXPROCS")
	}
}
