// Package status is the document a PoET pod serves at GET /status on its ops port, and
// a client for it: what the round is doing and whether the prover has a CPU to itself.
// The operator reads it into the PoetService status.
package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Status is what the service reports about its rounds.
type Status struct {
	// OpenRound is the round open for registration.
	OpenRound uint64 `json:"openRound"`
	// ExecutingRound is the round whose proof of sequential work runs, if any.
	ExecutingRound *uint64 `json:"executingRound"`
	// Members is the number of registrations in the open round.
	Members uint64 `json:"members"`
	// ExecutingMembers is the number of members of the executing round.
	ExecutingMembers uint64 `json:"executingMembers"`
	// Leaves is the executing round's tree size.
	Leaves uint64 `json:"leaves"`
	// LeavesPerSecond is the prover's rate over the last ten seconds.
	LeavesPerSecond float64 `json:"leavesPerSecond"`
	// LPSInUse is the leaves/s that sizes the executing (or next) round's in-memory layers.
	LPSInUse uint64 `json:"lpsInUse,omitempty"`
	// LPSSource is where LPSInUse comes from: "given" (--lps), "measured" (the last
	// round's rate), "calibrated" (a calibration run before the first round) or "default".
	LPSSource string `json:"lpsSource,omitempty"`
	// LPSMeasuredAt is when a "measured" or "calibrated" LPSInUse was measured.
	LPSMeasuredAt *time.Time `json:"lpsMeasuredAt,omitempty"`
	// LastProofRound is the latest round with a published proof, if any.
	LastProofRound *uint64 `json:"lastProofRound"`
	// LastProofAt is when that proof was published (this process's run only).
	LastProofAt *time.Time `json:"lastProofAt,omitempty"`
	// NextRoundStart is when the open round closes and starts executing.
	NextRoundStart time.Time `json:"nextRoundStart"`
	// CPUExclusive reports a cpuset of whole CPUs for this container alone.
	CPUExclusive bool `json:"cpuExclusive"`
	// CPUExclusiveReason says why CPUExclusive is what it is.
	CPUExclusiveReason string `json:"cpuExclusiveReason,omitempty"`
	// Cpuset is the CPUs the process may run on.
	Cpuset string `json:"cpuset"`
	// ProverCPU is the CPU the prover thread runs on alone; nil when it is not pinned.
	ProverCPU *int `json:"proverCPU,omitempty"`
	// OtherCPUs is the CPUs every other thread of the process runs on.
	OtherCPUs string `json:"otherCPUs,omitempty"`
	// ProverSched is the prover thread's scheduling policy, "other" or e.g. "fifo:10".
	ProverSched string `json:"proverSched,omitempty"`
	// Version is the service's version.
	Version string `json:"version"`
}

// maxBody bounds a status document; a real one is a few hundred bytes.
const maxBody = 1 << 20

// Fetch reads the status of the service whose ops server is at baseURL (for example
// "http://10.0.0.7:2112"), with c or, when c is nil, http.DefaultClient. It fails on a
// non-200 answer, a body over 1 MiB, or a body that is not a status document.
func Fetch(ctx context.Context, c *http.Client, baseURL string) (*Status, error) {
	if c == nil {
		c = http.DefaultClient
	}
	url := strings.TrimSuffix(baseURL, "/") + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building the status request for %q: %w", baseURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: HTTP %d: %q", url, resp.StatusCode, clip(body))
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("fetching %s: status document larger than %d bytes", url, maxBody)
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", url, err)
	}
	return &s, nil
}

// clip shortens a body for an error message.
func clip(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
