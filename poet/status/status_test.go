package status

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The JSON names are a contract with the operator.
func TestStatusJSON(t *testing.T) {
	exec, last := uint64(6), uint64(5)
	cpu := 3
	at := time.Date(2026, 11, 23, 19, 49, 28, 0, time.UTC)
	for _, tc := range []struct {
		s    Status
		want string
	}{
		{Status{OpenRound: 7, NextRoundStart: at, Version: "v1"},
			`{"openRound":7,"executingRound":null,"members":0,"executingMembers":0,"leaves":0,"leavesPerSecond":0,"lastProofRound":null,"nextRoundStart":"2026-11-23T19:49:28Z","cpuExclusive":false,"cpuset":"","version":"v1"}`},
		{Status{OpenRound: 7, ExecutingRound: &exec, Members: 3, ExecutingMembers: 2, Leaves: 100, LeavesPerSecond: 41000.5,
			LastProofRound: &last, LastProofAt: &at, NextRoundStart: at, CPUExclusive: true, CPUExclusiveReason: "why", Cpuset: "2-3", ProverCPU: &cpu, OtherCPUs: "2", ProverSched: "fifo:10", Version: "v1"},
			`{"openRound":7,"executingRound":6,"members":3,"executingMembers":2,"leaves":100,"leavesPerSecond":41000.5,"lastProofRound":5,"lastProofAt":"2026-11-23T19:49:28Z","nextRoundStart":"2026-11-23T19:49:28Z","cpuExclusive":true,"cpuExclusiveReason":"why","cpuset":"2-3","proverCPU":3,"otherCPUs":"2","proverSched":"fifo:10","version":"v1"}`},
	} {
		b, err := json.Marshal(tc.s)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s %v\nwant %s", b, err, tc.want)
		}
	}
}

func TestFetch(t *testing.T) {
	exec := uint64(6)
	want := Status{OpenRound: 7, ExecutingRound: &exec, Leaves: 10, Version: "v1", NextRoundStart: time.Unix(100, 0).UTC()}
	var answer func(w http.ResponseWriter)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		answer(w)
	}))
	defer srv.Close()
	ctx := context.Background()

	answer = func(w http.ResponseWriter) { json.NewEncoder(w).Encode(want) }
	for _, base := range []string{srv.URL, srv.URL + "/"} {
		got, err := Fetch(ctx, nil, base)
		if err != nil || got.OpenRound != 7 || *got.ExecutingRound != 6 || got.Leaves != 10 || !got.NextRoundStart.Equal(want.NextRoundStart) {
			t.Fatalf("Fetch(%s) = %+v, %v", base, got, err)
		}
	}
	for name, tc := range map[string]struct {
		answer func(w http.ResponseWriter)
		want   string
	}{
		"not ready":   {func(w http.ResponseWriter) { http.Error(w, "starting", 503) }, `HTTP 503: "starting"`},
		"not JSON":    {func(w http.ResponseWriter) { w.Write([]byte("<html>")) }, "decoding"},
		"wrong shape": {func(w http.ResponseWriter) { w.Write([]byte(`{"openRound":"seven"}`)) }, "decoding"},
		"too large": {func(w http.ResponseWriter) {
			w.Write([]byte(`{"version":"` + strings.Repeat("x", maxBody) + `"}`))
		}, "larger than"},
	} {
		answer = tc.answer
		if _, err := Fetch(ctx, srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
	if _, err := Fetch(ctx, nil, "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "fetching http://127.0.0.1:1/status") {
		t.Errorf("unreachable: %v", err)
	}
}
