package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/nodeclient"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/prover"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// These tests run the real poet binary on loopback and talk to it through poet/nodeclient,
// exactly as go-spacemesh does (../shared/spec/node-client.md): protojson bodies, a "{}"
// body on every GET, the PoW or certificate path, a deadline, 404 retries for the proof.

// poetProc is one run of the poet binary; restarts reuse its directory and genesis.
type poetProc struct {
	t       *testing.T
	dir     string
	genesis time.Time
	extra   []string
	rest    string
	ops     string
	rpc     string
	cfgRPC  string
	cmd     *exec.Cmd
	log     *logBuffer
	mu      sync.Mutex
}

const (
	epoch      = 12 * time.Second
	phaseShift = 6 * time.Second
	cycleGap   = 3 * time.Second
)

// newPoet builds the binary first, then sets genesis at now+offset.
func newPoet(t *testing.T, offset time.Duration, extra ...string) *poetProc {
	testutil.BuildBinary(t, ".")
	return &poetProc{t: t, dir: t.TempDir(), genesis: time.Now().Add(offset), extra: extra}
}

func (p *poetProc) start() {
	t := p.t
	t.Helper()
	// The first start listens on ports the kernel picks (no other process can take them
	// between choosing and binding) and learns them from the poet's "listening" log line;
	// a restart reuses them, as a restarted pod keeps its addresses.
	rest, rpc, cfgRPC, opsPort := "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "0"
	if p.rest != "" {
		rest, rpc, cfgRPC = p.rest, p.rpc, p.cfgRPC
		_, opsPort, _ = net.SplitHostPort(p.ops)
	}
	args := append([]string{
		"--poetdir", p.dir,
		"--genesis-time", p.genesis.UTC().Format(time.RFC3339Nano),
		"--epoch-duration", epoch.String(), "--phase-shift", phaseShift.String(), "--cycle-gap", cycleGap.String(),
		"--restlisten", rest, "--rpclisten", rpc, "--config-rpclisten", cfgRPC,
		"--metrics-port", opsPort, "--checkpoint-interval", "200ms", "--jsonlog",
	}, p.extra...)
	p.cmd = exec.Command(testutil.BuildBinary(t, "."), args...)
	p.log = &logBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p.rest == "" {
			if a, ok := p.log.listening(); ok {
				p.rest, p.rpc, p.cfgRPC, p.ops = a.REST, a.RPC, a.ConfigRPC, a.ops()
			}
		}
		if p.ops != "" {
			resp, err := http.Get("http://" + p.ops + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("poet not ready:\n%s", p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBuffer holds a poet's output: exec's copying goroutine writes it while the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *logBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *logBuffer) String() string { return string(l.Bytes()) }

// listenAddrs are the addresses of the poet's JSON "listening" log line.
type listenAddrs struct {
	Msg       string `json:"msg"`
	RPC       string `json:"rpc"`
	REST      string `json:"rest"`
	ConfigRPC string `json:"configRpc"`
	Ops       string `json:"ops"`
}

// ops is the ops listener (bound on all interfaces) as a loopback address.
func (a listenAddrs) ops() string {
	if _, port, err := net.SplitHostPort(a.Ops); err == nil {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return ""
}

// listening finds the "listening" line in a --jsonlog output, once the poet wrote it.
func (l *logBuffer) listening() (listenAddrs, bool) {
	for _, line := range bytes.Split(l.Bytes(), []byte("\n")) {
		var a listenAddrs
		if json.Unmarshal(line, &a) == nil && a.Msg == "listening" {
			return a, true
		}
	}
	return listenAddrs{}, false
}

func (p *poetProc) kill() {
	if p.cmd != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// stop sends SIGTERM, as Kubernetes does, and waits for a clean exit.
func (p *poetProc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("poet exited with %v:\n%s", err, p.log)
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("poet did not stop within 30s:\n%s", p.log)
	}
}

// node is a go-spacemesh-like client of the poet (genesis ID all zero).
func (p *poetProc) node() *nodeclient.Client {
	return &nodeclient.Client{Base: "http://" + p.rest}
}

// proof fetches a round's proof after its end, retrying 404s like the node does for up
// to 10 s.
func proof(t *testing.T, n *nodeclient.Client, round string, end time.Time) *apiv1.ProofResponse {
	t.Helper()
	time.Sleep(time.Until(end) + 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n.Proof(ctx, round, 250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// validate checks a proof as go-spacemesh does, that it holds the challenges, and that
// its proof nodes fit the node's SCALE limit.
func validate(t *testing.T, resp *apiv1.ProofResponse, servicePubkey []byte, want [][]byte) {
	t.Helper()
	if err := nodeclient.Validate(resp, servicePubkey, want); err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Proof.Proof.ProofNodes); n > posw.MaxProofNodes {
		t.Fatalf("%d proof nodes, at most %d", n, posw.MaxProofNodes)
	}
}

func info(t *testing.T, n *nodeclient.Client) *apiv1.InfoResponse {
	t.Helper()
	resp, err := n.Info(context.Background())
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	return resp
}

func far() time.Time { return time.Now().Add(24 * time.Hour) }

func TestEndToEndPow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a poet for a round")
	}
	p := newPoet(t, 0, "--pow-difficulty", "6")
	p.start()
	n := p.node()
	in := info(t, n)
	if in.PhaseShift.AsDuration() != phaseShift || in.CycleGap.AsDuration() != cycleGap || len(in.ServicePubkey) != 32 {
		t.Fatalf("info %v", in)
	}
	ctx := context.Background()
	var ids []nodeclient.Identity
	var round string
	var end time.Time
	for range 5 {
		id := nodeclient.NewIdentity()
		resp, err := n.SubmitPoW(ctx, id, far())
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		if round != "" && resp.RoundId != round {
			t.Fatalf("rounds %s and %s", round, resp.RoundId)
		}
		round, end = resp.RoundId, time.Now().Add(resp.RoundEnd.AsDuration())
		ids = append(ids, id)
	}
	// The node's idempotent resubmission, and a conflicting one.
	if resp, err := n.SubmitPoW(ctx, ids[0], far()); err != nil || resp.RoundId != round {
		t.Fatalf("resubmission: %v %v", err, resp)
	}
	other := ids[0]
	other.Challenge = make([]byte, 32)
	if _, err := n.SubmitPoW(ctx, other, far()); nodeclient.Code(err) != 409 {
		t.Fatalf("conflicting registration: %v", err)
	}
	resp := proof(t, n, round, end)
	var want [][]byte
	for _, id := range ids {
		want = append(want, id.Challenge)
	}
	validate(t, resp, in.ServicePubkey, want)
	if len(resp.Proof.Members) != len(ids) {
		t.Fatalf("%d members, want %d", len(resp.Proof.Members), len(ids))
	}
	p.stop()
}

func TestEndToEndCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a poet for a round")
	}
	certPub, certPriv, _ := ed25519.GenerateKey(nil)
	p := newPoet(t, 0, "--certifier-url", "http://127.0.0.1:1", "--certifier-pubkey", base64.StdEncoding.EncodeToString(certPub))
	p.start()
	n := p.node()
	in := info(t, n)
	if in.Certifier == nil || !bytes.Equal(in.Certifier.Pubkey, certPub) {
		t.Fatalf("info certifier %v", in.Certifier)
	}
	ctx := context.Background()
	id := nodeclient.NewIdentity()
	resp, err := n.SubmitCertificate(ctx, id, certPriv, far())
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	data := append(append([]byte{0x80}, id.Pub...), 0x00) // SCALE CertOnWire{Pubkey, Expiration: None}
	req := n.Request(nodeclient.NewIdentity(), far())
	req.Certificate = &apiv1.SubmitRequest_Certificate{Data: data, Signature: ed25519.Sign(certPriv, data)} // someone else's
	err = n.Do(ctx, http.MethodPost, "/v1/submit", req, nil)
	if se, ok := err.(*nodeclient.StatusError); !ok || se.Code != 401 || se.Header.Get("Www-Authenticate") == "" {
		t.Fatalf("bad certificate: %v", err)
	}
	validate(t, proof(t, n, resp.RoundId, time.Now().Add(resp.RoundEnd.AsDuration())), in.ServicePubkey, [][]byte{id.Challenge})
}

// Every bad request of reference-poet.md §1.3 gets its documented status.
func TestEndToEndBadRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a poet")
	}
	certPub, _, _ := ed25519.GenerateKey(nil)
	p := newPoet(t, time.Hour, "--pow-difficulty", "4", "--max-round-members", "1",
		"--certifier-url", "http://127.0.0.1:1", "--certifier-pubkey", base64.StdEncoding.EncodeToString(certPub))
	p.start()
	n := p.node()
	ctx := context.Background()
	var pp apiv1.PowParamsResponse
	if err := n.Do(ctx, http.MethodGet, "/v1/pow_params", nil, &pp); err != nil {
		t.Fatalf("pow_params: %v", err)
	}
	good := func(id nodeclient.Identity) *apiv1.SubmitRequest {
		req := n.Request(id, far())
		req.PowParams = pp.PowParams
		nonce, err := registration.FindNonce(pp.PowParams.Challenge, id.Pub, id.Challenge, 4)
		if err != nil {
			t.Fatal(err)
		}
		req.Nonce = nonce
		return req
	}
	submit := func(req *apiv1.SubmitRequest) error { return n.Do(ctx, http.MethodPost, "/v1/submit", req, nil) }
	id := nodeclient.NewIdentity()
	for _, tc := range []struct {
		name   string
		mutate func(*apiv1.SubmitRequest)
		code   int
	}{
		{"short pubkey", func(r *apiv1.SubmitRequest) { r.Pubkey = r.Pubkey[:31] }, 400},
		{"bad signature", func(r *apiv1.SubmitRequest) { r.Signature[0] ^= 1 }, 400},
		{"short challenge", func(r *apiv1.SubmitRequest) { r.Challenge = r.Challenge[:31] }, 400},
		{"bad hint", func(r *apiv1.SubmitRequest) { r.CertificatePubkeyHint = []byte{1, 2, 3} }, 400},
		{"bad certificate", func(r *apiv1.SubmitRequest) {
			r.Certificate = &apiv1.SubmitRequest_Certificate{Data: []byte{1}, Signature: make([]byte, 64)}
		}, 401},
		{"wrong pow params", func(r *apiv1.SubmitRequest) {
			r.PowParams = &apiv1.PowParams{Difficulty: 4, Challenge: make([]byte, 32)}
		}, 400},
		{"bad nonce", func(r *apiv1.SubmitRequest) { r.Nonce++ }, 400},
		{"too late", func(r *apiv1.SubmitRequest) { r.Deadline = timestamppb.Now() }, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := good(id)
			if tc.name != "short challenge" {
				tc.mutate(req)
			} else {
				req.Challenge = req.Challenge[:31]
				req.Signature = ed25519.Sign(id.Priv, append(slices.Clone(req.Prefix), req.Challenge...))
			}
			if tc.name == "bad nonce" && registration.CheckPow(pp.PowParams.Challenge, id.Pub, id.Challenge, req.Nonce, 4) {
				t.Skip("the next nonce happens to be valid too")
			}
			if err := submit(req); nodeclient.Code(err) != tc.code {
				t.Fatalf("got %v, want %d", err, tc.code)
			}
		})
	}
	if err := submit(good(id)); err != nil {
		t.Fatalf("first member: %v", err)
	}
	if err := submit(good(nodeclient.NewIdentity())); nodeclient.Code(err) != 429 {
		t.Fatalf("round full: %v", err)
	}
	if err := submit(good(id)); err != nil {
		t.Fatalf("resubmission into a full round: %v", err)
	}
	for _, path := range []string{"/v1/proofs/0", "/v1/proofs/abc", "/v1/proofs/99999999999999999999"} {
		if err := n.Do(ctx, http.MethodGet, path, nil, nil); nodeclient.Code(err) != 404 {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if err := submit(nil); nodeclient.Code(err) != 400 {
		t.Fatalf("empty submit: %v", err)
	}
	r, _ := http.NewRequest("POST", n.Base+"/v1/submit", strings.NewReader("{not json"))
	r.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(r); err != nil || resp.StatusCode != 400 {
		t.Fatalf("malformed JSON: %v %v", resp, err)
	}
}

// kill -9 while registrations are in flight and again while the round executes: every
// acknowledged member is in the round's valid proof.
func TestEndToEndKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a poet through crashes")
	}
	p := newPoet(t, 0)
	genesis := p.genesis
	p.start()
	n := p.node()
	servicePubkey := info(t, n).ServicePubkey

	var pp apiv1.PowParamsResponse
	if err := n.Do(context.Background(), http.MethodGet, "/v1/pow_params", nil, &pp); err != nil {
		t.Fatalf("pow_params: %v", err)
	}
	// No nonce search: the default difficulty, 0, takes any nonce.
	submit := func(id nodeclient.Identity, resp *apiv1.SubmitResponse) error {
		req := n.Request(id, far())
		req.PowParams = pp.PowParams
		return n.Do(context.Background(), http.MethodPost, "/v1/submit", req, resp)
	}
	var mu sync.Mutex
	var acked [][]byte
	var round string
	var end time.Time
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id := nodeclient.NewIdentity()
				var resp apiv1.SubmitResponse
				if submit(id, &resp) == nil {
					mu.Lock()
					acked = append(acked, id.Challenge)
					round, end = resp.RoundId, time.Now().Add(resp.RoundEnd.AsDuration())
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	p.kill() // kill -9 mid-registration
	cancel()
	wg.Wait()
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	if before == 0 {
		t.Fatalf("nothing registered before the kill:\n%s", p.log)
	}
	p.start()
	for range 3 {
		id := nodeclient.NewIdentity()
		var resp apiv1.SubmitResponse
		if err := submit(id, &resp); err != nil || resp.RoundId != round {
			t.Fatalf("after restart: %v round %s", err, resp.RoundId)
		}
		acked = append(acked, id.Challenge)
	}
	r, _ := strconv.ParseUint(round, 10, 64)
	start := genesis.Add(phaseShift + time.Duration(r)*epoch)
	time.Sleep(time.Until(start) + 1500*time.Millisecond)
	p.kill() // kill -9 while the round executes
	p.start()
	time.Sleep(time.Second)
	p.stop() // SIGTERM while the round executes: a checkpoint, then a clean exit
	st, err := prover.ReadState(filepath.Join(p.dir, "data", "rounds", round))
	if err != nil || st.Execution == nil || st.Execution.NumLeaves == 0 {
		t.Fatalf("no checkpoint after SIGTERM: %v %+v\n%s", err, st, p.log)
	}
	p.start()
	resp := proof(t, n, round, end)
	validate(t, resp, servicePubkey, acked)
	t.Logf("%d members registered (%d before the first kill), %d leaves", len(acked), before, resp.Proof.Leaves)
}
