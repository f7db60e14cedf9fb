package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
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

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/prover"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// These tests run the real poet binary on loopback and talk to it exactly as
// go-spacemesh does (../shared/spec/node-client.md): protojson bodies, a "{}" body on
// every GET, the PoW or certificate path, a deadline, 404 retries for the proof.

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

// node is a go-spacemesh-like client of one poet.
type node struct {
	base    string
	genesis [20]byte
}

func (p *poetProc) node() *node { return &node{base: "http://" + p.rest} }

func (n *node) do(method, path string, req proto.Message, out proto.Message) (int, []byte, http.Header) {
	body := []byte("{}")
	if req != nil {
		b, err := protojson.Marshal(req)
		if err != nil {
			panic(err)
		}
		body = b
	}
	r, _ := http.NewRequest(method, n.base+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out); err != nil {
			return -1, []byte(err.Error()), resp.Header
		}
	}
	return resp.StatusCode, raw, resp.Header
}

type nodeKey struct {
	pub       ed25519.PublicKey
	priv      ed25519.PrivateKey
	challenge []byte
}

func newIdentity() nodeKey {
	pub, priv, _ := ed25519.GenerateKey(nil)
	c := make([]byte, 32)
	rand.Read(c)
	return nodeKey{pub: pub, priv: priv, challenge: c}
}

func (n *node) request(id nodeKey, deadline time.Time) *apiv1.SubmitRequest {
	prefix := append(n.genesis[:], 0x04)
	return &apiv1.SubmitRequest{
		Prefix:    prefix,
		Challenge: id.challenge,
		Pubkey:    id.pub,
		Signature: ed25519.Sign(id.priv, append(slices.Clone(prefix), id.challenge...)),
		Deadline:  timestamppb.New(deadline),
	}
}

// submitPow registers on the PoW path: pow_params, then nonces counted up from 0.
func (n *node) submitPow(t *testing.T, id nodeKey, deadline time.Time) (*apiv1.SubmitResponse, int, []byte) {
	t.Helper()
	var pp apiv1.PowParamsResponse
	if code, raw, _ := n.do("GET", "/v1/pow_params", nil, &pp); code != 200 {
		t.Fatalf("pow_params: %d %s", code, raw)
	}
	req := n.request(id, deadline)
	req.PowParams = pp.PowParams
	req.Nonce = mustFindNonce(t, pp.PowParams.Challenge, id, uint(pp.PowParams.Difficulty))
	var resp apiv1.SubmitResponse
	code, raw, _ := n.do("POST", "/v1/submit", req, &resp)
	return &resp, code, raw
}

// mustFindNonce solves the proof of work for id as the node does.
func mustFindNonce(t *testing.T, powChallenge []byte, id nodeKey, difficulty uint) uint64 {
	t.Helper()
	nonce, err := registration.FindNonce(powChallenge, id.pub, id.challenge, difficulty)
	if err != nil {
		t.Fatal(err)
	}
	return nonce
}

// proof fetches a round's proof after its end, retrying 404s like the node does.
func (n *node) proof(t *testing.T, round string, end time.Time) *apiv1.ProofResponse {
	t.Helper()
	time.Sleep(time.Until(end) + 10*time.Millisecond)
	for attempt := 1; attempt <= 40; attempt++ {
		var resp apiv1.ProofResponse
		code, raw, _ := n.do("GET", "/v1/proofs/"+round, nil, &resp)
		switch code {
		case 200:
			return &resp
		case 404:
			time.Sleep(250 * time.Millisecond)
		default:
			t.Fatalf("proof of round %s: %d %s", round, code, raw)
		}
	}
	t.Fatalf("no proof of round %s within 10s of its end", round)
	return nil
}

// validate checks a proof as go-spacemesh does, and that it holds the challenges.
func validate(t *testing.T, resp *apiv1.ProofResponse, servicePubkey []byte, want [][]byte) {
	t.Helper()
	p := resp.Proof
	for _, m := range p.Members {
		if len(m) != 32 {
			t.Fatalf("member of %d bytes", len(m))
		}
	}
	for _, c := range want {
		if !slices.ContainsFunc(p.Members, func(m []byte) bool { return bytes.Equal(m, c) }) {
			t.Fatalf("challenge %x missing from the %d members", c, len(p.Members))
		}
	}
	stmt := registration.MembershipRoot(p.Members)
	proof := &posw.Proof{Root: p.Proof.Root, ProvenLeaves: p.Proof.ProvenLeaves, ProofNodes: p.Proof.ProofNodes}
	if err := posw.Verify(stmt, proof, p.Leaves); err != nil {
		t.Fatalf("proof of %d leaves: %v", p.Leaves, err)
	}
	if len(p.Proof.ProofNodes) > posw.MaxProofNodes || !bytes.Equal(resp.Pubkey, servicePubkey) {
		t.Fatalf("%d proof nodes, pubkey %x (service %x)", len(p.Proof.ProofNodes), resp.Pubkey, servicePubkey)
	}
}

func info(t *testing.T, n *node) *apiv1.InfoResponse {
	t.Helper()
	var resp apiv1.InfoResponse
	if code, raw, _ := n.do("GET", "/v1/info", nil, &resp); code != 200 {
		t.Fatalf("info: %d %s", code, raw)
	}
	return &resp
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
	var ids []nodeKey
	var round string
	var end time.Time
	for range 5 {
		id := newIdentity()
		resp, code, raw := n.submitPow(t, id, far())
		if code != 200 {
			t.Fatalf("submit: %d %s", code, raw)
		}
		if round != "" && resp.RoundId != round {
			t.Fatalf("rounds %s and %s", round, resp.RoundId)
		}
		round, end = resp.RoundId, time.Now().Add(resp.RoundEnd.AsDuration())
		ids = append(ids, id)
	}
	// The node's idempotent resubmission, and a conflicting one.
	if resp, code, _ := n.submitPow(t, ids[0], far()); code != 200 || resp.RoundId != round {
		t.Fatalf("resubmission: %d %v", code, resp)
	}
	other := ids[0]
	other.challenge = make([]byte, 32)
	if _, code, _ := n.submitPow(t, other, far()); code != 409 {
		t.Fatalf("conflicting registration: %d", code)
	}
	resp := n.proof(t, round, end)
	var want [][]byte
	for _, id := range ids {
		want = append(want, id.challenge)
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
	id := newIdentity()
	data := append(append([]byte{0x80}, id.pub...), 0x00) // SCALE CertOnWire{Pubkey, Expiration: None}
	req := n.request(id, far())
	req.Certificate = &apiv1.SubmitRequest_Certificate{Data: data, Signature: ed25519.Sign(certPriv, data)}
	var resp apiv1.SubmitResponse
	if code, raw, _ := n.do("POST", "/v1/submit", req, &resp); code != 200 {
		t.Fatalf("submit: %d %s", code, raw)
	}
	bad := newIdentity()
	req = n.request(bad, far())
	req.Certificate = &apiv1.SubmitRequest_Certificate{Data: data, Signature: ed25519.Sign(certPriv, data)} // someone else's
	if code, _, h := n.do("POST", "/v1/submit", req, nil); code != 401 || h.Get("Www-Authenticate") == "" {
		t.Fatalf("bad certificate: %d", code)
	}
	validate(t, n.proof(t, resp.RoundId, time.Now().Add(resp.RoundEnd.AsDuration())), in.ServicePubkey, [][]byte{id.challenge})
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
	var pp apiv1.PowParamsResponse
	n.do("GET", "/v1/pow_params", nil, &pp)
	good := func(id nodeKey) *apiv1.SubmitRequest {
		req := n.request(id, far())
		req.PowParams = pp.PowParams
		req.Nonce = mustFindNonce(t, pp.PowParams.Challenge, id, 4)
		return req
	}
	id := newIdentity()
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
				req.Signature = ed25519.Sign(id.priv, append(slices.Clone(req.Prefix), req.Challenge...))
			}
			if tc.name == "bad nonce" && registration.CheckPow(pp.PowParams.Challenge, id.pub, id.challenge, req.Nonce, 4) {
				t.Skip("the next nonce happens to be valid too")
			}
			if code, raw, _ := n.do("POST", "/v1/submit", req, nil); code != tc.code {
				t.Fatalf("got %d %s, want %d", code, raw, tc.code)
			}
		})
	}
	if code, raw, _ := n.do("POST", "/v1/submit", good(id), nil); code != 200 {
		t.Fatalf("first member: %d %s", code, raw)
	}
	if code, _, _ := n.do("POST", "/v1/submit", good(newIdentity()), nil); code != 429 {
		t.Fatalf("round full: %d", code)
	}
	if code, _, _ := n.do("POST", "/v1/submit", good(id), nil); code != 200 {
		t.Fatalf("resubmission into a full round: %d", code)
	}
	for _, path := range []string{"/v1/proofs/0", "/v1/proofs/abc", "/v1/proofs/99999999999999999999"} {
		if code, _, _ := n.do("GET", path, nil, nil); code != 404 {
			t.Fatalf("%s: %d", path, code)
		}
	}
	if code, _, _ := n.do("POST", "/v1/submit", nil, nil); code != 400 {
		t.Fatalf("empty submit: %d", code)
	}
	r, _ := http.NewRequest("POST", n.base+"/v1/submit", strings.NewReader("{not json"))
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
	if code, raw, _ := n.do("GET", "/v1/pow_params", nil, &pp); code != 200 {
		t.Fatalf("pow_params: %d %s", code, raw)
	}
	submit := func(id nodeKey, resp *apiv1.SubmitResponse) (int, []byte) {
		req := n.request(id, far())
		req.PowParams = pp.PowParams
		code, raw, _ := n.do("POST", "/v1/submit", req, resp)
		return code, raw
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
				id := newIdentity()
				var resp apiv1.SubmitResponse
				if code, _ := submit(id, &resp); code == 200 {
					mu.Lock()
					acked = append(acked, id.challenge)
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
		id := newIdentity()
		var resp apiv1.SubmitResponse
		if code, raw := submit(id, &resp); code != 200 || resp.RoundId != round {
			t.Fatalf("after restart: %d %s round %s", code, raw, resp.RoundId)
		}
		acked = append(acked, id.challenge)
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
	resp := n.proof(t, round, end)
	validate(t, resp, servicePubkey, acked)
	t.Logf("%d members registered (%d before the first kill), %d leaves", len(acked), before, resp.Proof.Leaves)
}
