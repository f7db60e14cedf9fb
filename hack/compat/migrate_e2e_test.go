package compat

// Switching from the reference (issue 10, item 1): the reference poet v0.10.12 binary
// itself produces a data directory holding, at once,
//
//   - a finished proof (round 0, in db/proofs),
//   - an in-progress round after its first checkpoint (round 1: SIGINT while it
//     executes, which checkpoints data/rounds/1/state.bin and the layer files),
//   - an open round with members (round 2, in db/rounds/2),
//
// and our poet is then started on the same directory with the same timing. Each round
// must come out with the same key, the same members and a proof the reference verifier
// accepts; the reference's databases must be left byte for byte as they were. These are
// rows 1-3 of the issue's table: before, round 1 crash-looped ("round directory holds
// another statement"), round 2 closed with 0 members and /v1/proofs/0 was 404.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	rpcapi "github.com/spacemeshos/poet/release/proto/go/rpc/api/v1"

	ourprover "github.com/poet-operator/poet-operator/poet/prover"
)

const (
	migEpoch      = 20 * time.Second
	migPhaseShift = 8 * time.Second
	migCycleGap   = 6 * time.Second
	migMembers    = 8
)

var migTiming = timing{epoch: migEpoch, phaseShift: migPhaseShift, cycleGap: migCycleGap}

func migRoundStart(g time.Time, n int) time.Time {
	return g.Add(migPhaseShift + time.Duration(n)*migEpoch)
}

func migRoundEnd(g time.Time, n int) time.Time {
	return migRoundStart(g, n).Add(migEpoch - migCycleGap)
}

// buildRefPoet builds the reference server binary from this module (tools.go pins it).
func buildRefPoet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ref-poet")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/spacemeshos/poet")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build github.com/spacemeshos/poet: %v\n%s", err, out)
	}
	return bin
}

type migPoet struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	rest string
	done chan error
}

// startMigPoet runs bin (the reference or ours) on poetdir with the test's timing and
// waits until /v1/info answers.
func startMigPoet(t *testing.T, bin, poetdir string, genesis time.Time, extra ...string) *migPoet {
	t.Helper()
	rest, flags := poetFlags(t, poetdir, genesis, migTiming)
	p := &migPoet{cmd: exec.Command(bin, append(flags, extra...)...), out: &syncBuffer{}, rest: "http://" + rest, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.rest + "/v1/info")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			p.done <- err // for the cleanup
			t.Fatalf("%s exited before answering: %v\n%s", bin, err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not answering within 60s", bin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// submitMembers registers n new identities and checks they entered round want.
func submitMembers(t *testing.T, c *nodeClient, n int, want string) []*nodeIdentity {
	t.Helper()
	var pp rpcapi.PowParamsResponse
	if code, raw, err := c.do(http.MethodGet, "/v1/pow_params", nil, &pp); err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/pow_params: %d %v %s", code, err, raw)
	}
	ids := make([]*nodeIdentity, n)
	for i := range ids {
		id := newNodeIdentity(t, pp.GetPowParams(), time.Now().Add(24*time.Hour))
		var resp rpcapi.SubmitResponse
		if code, raw, err := c.do(http.MethodPost, "/v1/submit", id.req, &resp); err != nil || code != http.StatusOK {
			t.Fatalf("POST /v1/submit: %d %v %s", code, err, raw)
		}
		if resp.GetRoundId() != want {
			t.Fatalf("registered into round %q, want %q (the machine is too slow for this schedule)", resp.GetRoundId(), want)
		}
		id.round = want
		ids[i] = id
	}
	return ids
}

// waitProof polls /v1/proofs/round until 200; anything but 404 fails.
func waitProof(t *testing.T, c *nodeClient, round string, until time.Time) (*rpcapi.ProofResponse, []byte) {
	t.Helper()
	for {
		var resp rpcapi.ProofResponse
		code, raw, err := c.do(http.MethodGet, "/v1/proofs/"+round, nil, &resp)
		if err != nil {
			t.Fatalf("GET /v1/proofs/%s: %v", round, err)
		}
		switch code {
		case http.StatusOK:
			return &resp, raw
		case http.StatusNotFound:
		default:
			t.Fatalf("GET /v1/proofs/%s: %d %s", round, code, raw)
		}
		if time.Now().After(until) {
			t.Fatalf("GET /v1/proofs/%s: still 404 at %v", round, until)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hashTree returns the SHA-256 of every file below dir, by relative path.
func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func challengesOf(ids []*nodeIdentity) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = id.challenge
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

func sortedMembers(resp *rpcapi.ProofResponse) [][]byte {
	out := slices.Clone(resp.GetProof().GetMembers())
	slices.SortFunc(out, bytes.Compare)
	return out
}

func TestSwitchFromReference(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not running the reference and our poet end to end")
	}
	refBin, ourBin := buildRefPoet(t), buildOurPoet(t)
	if bin := os.Getenv("POET_MIGRATE_OURS_BIN"); bin != "" {
		ourBin = bin // another build of ours, e.g. one from before the import, to see the rows fail
	}
	poetdir := t.TempDir()
	genesis := time.Now().Add(2 * time.Second)

	// --- The reference: round 0 finishes, round 1 executes, round 2 is open. ---
	ref := startMigPoet(t, refBin, poetdir, genesis)
	rc := &nodeClient{base: ref.rest, http: &http.Client{Timeout: 30 * time.Second}}
	var refInfo rpcapi.InfoResponse
	if code, raw, err := rc.do(http.MethodGet, "/v1/info", nil, &refInfo); err != nil || code != http.StatusOK {
		t.Fatalf("reference /v1/info: %d %v %s", code, err, raw)
	}
	ids0 := submitMembers(t, rc, migMembers, "0")
	refProof0, _ := waitProof(t, rc, "0", migRoundEnd(genesis, 0).Add(30*time.Second))
	ids1 := submitMembers(t, rc, migMembers, "1")
	time.Sleep(time.Until(migRoundStart(genesis, 1).Add(4 * time.Second)))
	ids2 := submitMembers(t, rc, migMembers, "2")
	if err := ref.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ref.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the reference did not exit on SIGINT")
	}
	ref.done <- nil // for the cleanup
	st, err := ourprover.ReadState(filepath.Join(poetdir, "data", "rounds", "1"))
	if err != nil || st.Execution == nil || st.Execution.NumLeaves == 0 || st.Execution.NIP != nil {
		t.Fatalf("the reference left no checkpoint of round 1: %+v %v\n%s", st, err, ref.out.String())
	}
	checkpoint := st.Execution.NumLeaves
	t.Logf("reference: proof 0 (%d members, %d leaves), round 1 checkpointed at %d leaves, round 2 open with %d members",
		len(refProof0.GetProof().GetMembers()), refProof0.GetProof().GetLeaves(), checkpoint, len(ids2))
	refDB := hashTree(t, filepath.Join(poetdir, "db"))

	// --- poet migrate --dry-run says what will be imported and writes nothing. ---
	dry := exec.Command(ourBin, "migrate", "--dry-run", "--poetdir", poetdir)
	out, err := dry.CombinedOutput()
	if err != nil {
		t.Errorf("poet migrate --dry-run: %v\n%s", err, out)
	}
	t.Logf("poet migrate --dry-run:\n%s", out)
	for _, want := range []string{
		fmt.Sprintf("round 1: %d registrations", migMembers),
		fmt.Sprintf("round 2: %d registrations", migMembers),
		fmt.Sprintf("proof of round 0: %d members, %d leaves", migMembers, refProof0.GetProof().GetLeaves()),
		fmt.Sprintf("round 1 directory: checkpoint at %d leaves", checkpoint),
		"matches its registrations: resumed in place",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(poetdir, "db", "registrations.db")); err == nil {
		t.Fatal("the dry run created our store")
	}

	// --- Ours on the same directory and timing. ---
	_, opsPort, _ := net.SplitHostPort(loopbackAddr(t))
	ours := startMigPoet(t, ourBin, poetdir, genesis, "--metrics-port", opsPort)
	oc := &nodeClient{base: ours.rest, http: &http.Client{Timeout: 30 * time.Second}}
	var info rpcapi.InfoResponse
	if code, raw, err := oc.do(http.MethodGet, "/v1/info", nil, &info); err != nil || code != http.StatusOK {
		t.Fatalf("our /v1/info: %d %v %s", code, err, raw)
	}
	if !bytes.Equal(info.GetServicePubkey(), refInfo.GetServicePubkey()) {
		t.Fatalf("our key %x, the reference's %x", info.GetServicePubkey(), refInfo.GetServicePubkey())
	}

	// Row 3: the reference's finished proof is served, as the reference served it.
	t.Run("row3_finished_proof", func(t *testing.T) {
		p0, _ := waitProof(t, oc, "0", time.Now())
		if !bytes.Equal(p0.GetProof().GetProof().GetRoot(), refProof0.GetProof().GetProof().GetRoot()) ||
			p0.GetProof().GetLeaves() != refProof0.GetProof().GetLeaves() ||
			!slices.EqualFunc(p0.GetProof().GetMembers(), refProof0.GetProof().GetMembers(), bytes.Equal) {
			t.Fatal("our proof of round 0 differs from the reference's")
		}
		if !slices.EqualFunc(sortedMembers(p0), challengesOf(ids0), bytes.Equal) {
			t.Fatal("round 0 members differ from the registered ones")
		}
		validateNodeProof(t, p0, refInfo.GetServicePubkey(), ids0)
	})

	// Row 1: the in-progress round resumes from the reference's checkpoint.
	t.Run("row1_in_progress_round", func(t *testing.T) {
		p1, _ := waitProof(t, oc, "1", migRoundEnd(genesis, 1).Add(60*time.Second))
		if got := sortedMembers(p1); !slices.EqualFunc(got, challengesOf(ids1), bytes.Equal) {
			t.Fatalf("round 1 has %d members, want the %d registered with the reference", len(got), len(ids1))
		}
		if p1.GetProof().GetLeaves() <= checkpoint {
			t.Fatalf("round 1 proof of %d leaves, the reference's checkpoint had %d", p1.GetProof().GetLeaves(), checkpoint)
		}
		validateNodeProof(t, p1, refInfo.GetServicePubkey(), ids1)
		if !strings.Contains(ours.out.String(), "imported the reference's round") {
			t.Error("the import is not logged")
		}
	})

	// Row 2: the open round keeps the members the reference acknowledged.
	t.Run("row2_open_round", func(t *testing.T) {
		p2, _ := waitProof(t, oc, "2", migRoundEnd(genesis, 2).Add(60*time.Second))
		if got := sortedMembers(p2); !slices.EqualFunc(got, challengesOf(ids2), bytes.Equal) {
			t.Fatalf("round 2 has %d members, want the %d registered with the reference", len(got), len(ids2))
		}
		validateNodeProof(t, p2, refInfo.GetServicePubkey(), ids2)
	})

	// Never destructive: the reference's databases are as it left them, and a second
	// start imports nothing new.
	if err := ours.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-ours.done
	ours.done <- nil
	after := hashTree(t, filepath.Join(poetdir, "db"))
	for path, sum := range refDB {
		if after[path] != sum {
			t.Errorf("the reference's %s changed", path)
		}
	}
	again := exec.Command(ourBin, append([]string{"migrate", "--poetdir", poetdir}, migTiming.flags(genesis)...)...)
	out, err = again.CombinedOutput()
	if err != nil {
		t.Fatalf("poet migrate (again): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "roundsImported=0") || !strings.Contains(string(out), "membersAdded=0") ||
		!strings.Contains(string(out), "proofsImported=0") {
		t.Errorf("a second import changed something:\n%s", out)
	}
}
