package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
	opsstatus "github.com/poet-operator/poet-operator/poet/status"
)

// fakeBackend answers from fixed values. submitErr, when set, is every Submit's error;
// block, when set, holds Submit until it is closed.
type fakeBackend struct {
	mu         sync.Mutex
	certifier  *Certifier
	submitErr  error
	block      chan struct{}
	proofs     map[uint64]*registration.StoredProof
	proofCalls int
	proofGate  chan struct{}
	reloads    int
	notReady   error
	lastProof  *uint64
	lastSubmit registration.SubmitRequest
}

var (
	servicePubkey = bytes.Repeat([]byte{7}, 32)
	roundEnd      = time.Now().Add(time.Hour)
)

func (f *fakeBackend) Info() Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Info{ServicePubkey: servicePubkey, PhaseShift: 6 * time.Second, CycleGap: 5 * time.Second,
		Certifier: f.certifier, ValidUntil: time.Now().Add(90 * time.Second)}
}

func (f *fakeBackend) PowParams() (registration.PowParams, time.Time) {
	return registration.PowParams{Difficulty: 4, Challenge: bytes.Repeat([]byte{2}, 32)}, time.Now().Add(30 * time.Second)
}

func (f *fakeBackend) Submit(ctx context.Context, req registration.SubmitRequest) (uint64, time.Time, error) {
	f.mu.Lock()
	block, err := f.block, f.submitErr
	f.lastSubmit = req
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return 3, roundEnd, nil
}

func (f *fakeBackend) Proof(_ context.Context, round uint64) (*registration.StoredProof, error) {
	f.mu.Lock()
	f.proofCalls++
	gate := f.proofGate
	p, ok := f.proofs[round]
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if ok {
		return p, nil
	}
	return nil, registration.ErrProofNotFound
}

func (f *fakeBackend) ReloadTrustedKeys(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return nil
}

func (f *fakeBackend) Status() opsstatus.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return opsstatus.Status{OpenRound: 4, Version: "test", LastProofRound: f.lastProof}
}

func (f *fakeBackend) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notReady
}

func (f *fakeBackend) set(fn func(*fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// proofWithMembers is a real proof of 150 leaves with n random 32-byte members.
func proofWithMembers(n int) *registration.StoredProof {
	p, err := posw.Prove([]byte("stmt"), 150)
	if err != nil {
		panic(err)
	}
	members := make([][]byte, n)
	buf := make([]byte, 32*n)
	rand.Read(buf)
	for i := range members {
		members[i] = buf[32*i : 32*i+32]
	}
	return &registration.StoredProof{Round: 1, Proof: *p, Members: members, Leaves: 150}
}

type env struct {
	b     *fakeBackend
	s     *Server
	base  string
	ops   string
	conn  *grpc.ClientConn
	cfgCn *grpc.ClientConn
	stop  func() error // cancels Run and returns its error
}

// gatewayJSON is grpc-gateway's default marshaler's options (every field emitted,
// lowerCamelCase names): the tests' own rendering, to hold the served bodies against.
var gatewayJSON = protojson.MarshalOptions{EmitUnpopulated: true}

func testConfig() Config {
	return Config{RPCListen: "127.0.0.1:0", RESTListen: "127.0.0.1:0", ConfigRPCListen: "127.0.0.1:0",
		MetricsListen: "127.0.0.1:0", MaxRequestBytes: 4096, ShutdownTimeout: 2 * time.Second}
}

func start(t *testing.T, b *fakeBackend) *env { return startWith(t, b, testConfig()) }

func startWith(t *testing.T, b *fakeBackend, cfg Config) *env {
	t.Helper()
	s := New(cfg, b, prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Listening():
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	a := s.Addrs()
	e := &env{b: b, s: s, base: "http://" + a.REST, ops: "http://" + a.Metrics, stop: stop}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Error(err)
		}
	})
	var err error
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1 << 30))}
	if e.conn, err = grpc.NewClient(a.RPC, opts...); err != nil {
		t.Fatal(err)
	}
	if e.cfgCn, err = grpc.NewClient(a.ConfigRPC, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close(); e.cfgCn.Close() })
	return e
}

// send sends body as JSON with the header pairs hdr (name, value, ...) through c and
// returns the response and its whole body.
func send(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// req sends a request as go-spacemesh does (a JSON body, GETs included) and returns
// the response and its body, compacted when it is JSON: protojson puts random spaces
// in its output, the reference's as much as ours.
func (e *env) req(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b := send(t, http.DefaultClient, method, e.base+path, body, hdr...)
	var c bytes.Buffer
	if json.Compact(&c, b) == nil {
		b = c.Bytes()
	}
	return resp, b
}

func TestRESTBodies(t *testing.T) {
	b := &fakeBackend{proofs: map[uint64]*registration.StoredProof{}}
	e := start(t, b)

	resp, body := e.req(t, "GET", "/v1/info", "{}")
	want := `{"servicePubkey":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=","phaseShift":"6s","cycleGap":"5s","certifier":null}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("info: %d %s\nwant %s", resp.StatusCode, body, want)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=89" && cc != "public, max-age=90" {
		t.Errorf("info Cache-Control %q", cc)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("info Content-Type %q", ct)
	}

	b.set(func(b *fakeBackend) { b.certifier = &Certifier{URL: "http://certifier", Pubkey: []byte{1, 2, 3}} })
	_, body = e.req(t, "GET", "/v1/info", "{}")
	want = `{"servicePubkey":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=","phaseShift":"6s","cycleGap":"5s","certifier":{"url":"http://certifier","pubkey":"AQID"}}`
	if string(body) != want {
		t.Fatalf("info with certifier: %s\nwant %s", body, want)
	}

	resp, body = e.req(t, "GET", "/v1/pow_params", "{}")
	want = `{"powParams":{"difficulty":4,"challenge":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="}}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("pow_params: %d %s\nwant %s", resp.StatusCode, body, want)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=29" && cc != "public, max-age=30" {
		t.Errorf("pow_params Cache-Control %q", cc)
	}
	// A GET without a body works as well.
	if resp, _ := e.req(t, "GET", "/v1/pow_params", ""); resp.StatusCode != 200 {
		t.Fatalf("pow_params without a body: %d", resp.StatusCode)
	}

	// The node's body as protojson writes it, random spaces included; snake_case names
	// and unknown fields are accepted.
	submit := `{"nonce": "33", "pow_params":{"difficulty":4, "challenge":"AgI="},"prefix":"AAAE", "challenge":"uBnr",` +
		` "pubkey":"X5uT", "signature":"q+db", "deadline":"2026-11-24T19:54:36.013473281Z",` +
		` "certificate":{"data":"AQ==","signature":"Ag=="}, "certificatePubkeyHint":"AQIDBA==", "future":1}`
	resp, body = e.req(t, "POST", "/v1/submit", submit)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("submit: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	var sr struct{ RoundID, RoundEnd string }
	if err := json.Unmarshal(body, &sr); err != nil || sr.RoundID != "3" || !strings.HasSuffix(sr.RoundEnd, "s") {
		t.Fatalf("submit body %s", body)
	}
	if !strings.HasPrefix(string(body), `{"roundId":"3","roundEnd":"`) {
		t.Errorf("submit body %s", body)
	}
	d, err := time.ParseDuration(sr.RoundEnd)
	if err != nil || d <= 59*time.Minute || d > time.Hour {
		t.Errorf("roundEnd %q: %v", sr.RoundEnd, err)
	}
	b.mu.Lock()
	got := b.lastSubmit
	b.mu.Unlock()
	if got.Nonce != 33 || got.PowParams == nil || got.PowParams.Difficulty != 4 || !bytes.Equal(got.Prefix, []byte{0, 0, 4}) ||
		got.Certificate == nil || !bytes.Equal(got.Certificate.Signature, []byte{2}) || len(got.CertificatePubkeyHint) != 4 ||
		!got.Deadline.Equal(time.Date(2026, 11, 24, 19, 54, 36, 13473281, time.UTC)) {
		t.Errorf("decoded submit %+v", got)
	}
}

// gatewayError is the gateway's error body for a code and message.
func gatewayError(code codes.Code, msg string) string {
	m, _ := json.Marshal(msg)
	return fmt.Sprintf(`{"code":%d,"message":%s,"details":[]}`, code, m)
}

// Every Submit error of reference-poet.md §1.3, with its status, body and headers.
func TestRESTErrors(t *testing.T) {
	b := &fakeBackend{}
	e := start(t, b)
	for _, tc := range []struct {
		err  error
		http int
		code codes.Code
		msg  string
	}{
		{fmt.Errorf("%w: 31 bytes, want 32", registration.ErrInvalidPublicKey), 400, codes.InvalidArgument, "invalid public key: 31 bytes, want 32"},
		{registration.ErrInvalidSignature, 400, codes.InvalidArgument, "invalid signature"},
		{registration.ErrInvalidChallenge, 400, codes.InvalidArgument, "invalid challenge"},
		{registration.ErrInvalidHint, 400, codes.InvalidArgument, "invalid certificate public key hint"},
		{fmt.Errorf("%w: signature mismatch", registration.ErrInvalidCertificate), 401, codes.Unauthenticated, "invalid certificate\nsignature mismatch"},
		{errors.Join(registration.ErrInvalidCertificate, errors.New("pubkey mismatch")), 401, codes.Unauthenticated, "invalid certificate\npubkey mismatch"},
		{registration.ErrInvalidPowParams, 400, codes.InvalidArgument, "invalid proof of work parameters"},
		{fmt.Errorf("%w: leading zeros", registration.ErrInvalidPow), 400, codes.InvalidArgument, "invalid proof of work: leading zeros"},
		{registration.ErrTooLate, 400, codes.FailedPrecondition, "too late to register for the desired round"},
		{registration.ErrMaxMembers, 429, codes.ResourceExhausted, "maximum number of round members reached"},
		{registration.ErrConflictingRegistration, 409, codes.AlreadyExists, "conflicting registration"},
		{fmt.Errorf("waiting for the commit: %w", context.Canceled), 499, codes.Canceled, "context canceled"},
		{errors.New("disk on fire"), 500, codes.Internal, "unknown error submitting challenge"},
		{context.DeadlineExceeded, 500, codes.Internal, "unknown error submitting challenge"},
	} {
		b.set(func(b *fakeBackend) { b.submitErr = tc.err })
		resp, body := e.req(t, "POST", "/v1/submit", `{}`)
		if want := gatewayError(tc.code, tc.msg); resp.StatusCode != tc.http || string(body) != want {
			t.Errorf("%q: %d %s, want %d %s", tc.err, resp.StatusCode, body, tc.http, want)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%q: Cache-Control %q", tc.err, cc)
		}
		if wa := resp.Header.Get("Www-Authenticate"); (tc.http == 401) != (wa != "") {
			t.Errorf("%q: Www-Authenticate %q", tc.err, wa)
		}
		// gRPC gives the same code and message.
		_, err := apiv1.NewPoetServiceClient(e.conn).Submit(context.Background(), &apiv1.SubmitRequest{})
		if st := status.Convert(err); st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("%q over gRPC: %v", tc.err, err)
		}
	}
	b.set(func(b *fakeBackend) { b.submitErr = nil })

	for name, body := range map[string]string{
		"malformed":  `{nope`,
		"wrong type": `{"nonce":[1]}`,
		"bad base64": `{"challenge":"!!"}`,
		"bad time":   `{"deadline":"tomorrow"}`,
	} {
		resp, got := e.req(t, "POST", "/v1/submit", body)
		var eb struct{ Code int }
		if resp.StatusCode != 400 || json.Unmarshal(got, &eb) != nil || eb.Code != int(codes.InvalidArgument) || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s body: %d %s", name, resp.StatusCode, got)
		}
	}
	// The reference never serves ConfigurationService over REST.
	if resp, body := e.req(t, "POST", "/v1/reload_trusted_keys", `{}`); resp.StatusCode != 404 || string(body) != gatewayError(codes.NotFound, "Not Found") {
		t.Errorf("reload_trusted_keys over REST: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.req(t, "GET", "/v1/nothing", `{}`); resp.StatusCode != 404 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("unknown path: %d %v", resp.StatusCode, resp.Header)
	}
}

// Bodies over MaxRequestBytes are 413 with code 8, whether their length is announced or not.
func TestRESTBodyLimit(t *testing.T) {
	e := start(t, &fakeBackend{})
	big := `{"prefix":` + strings.Repeat(" ", 5000) + `"AA=="}`
	want := gatewayError(codes.ResourceExhausted, "request body larger than 4096 bytes")
	if resp, body := e.req(t, "POST", "/v1/submit", big); resp.StatusCode != 413 || string(body) != want || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("announced length: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	r, _ := http.NewRequest("POST", e.base+"/v1/submit", io.MultiReader(strings.NewReader(big))) // chunked
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(body), `"code":8`) {
		t.Errorf("chunked: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.req(t, "POST", "/v1/submit", `{"prefix":`+strings.Repeat(" ", 4000)+`"AA=="}`); resp.StatusCode != 200 {
		t.Errorf("body under the limit: %d", resp.StatusCode)
	}
}

func TestProofServing(t *testing.T) {
	p := proofWithMembers(3)
	b := &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: p}}
	e := start(t, b)
	for _, id := range []string{"0", "2", "abc", "-1", "01", "+1", "1.0", "99999999999999999999999"} {
		resp, body := e.req(t, "GET", "/v1/proofs/"+id, "{}")
		if want := gatewayError(codes.NotFound, "proof not found"); resp.StatusCode != 404 || string(body) != want {
			t.Errorf("proof %s: %d %s, want %s", id, resp.StatusCode, body, want)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "" {
			t.Errorf("proof %s: headers %v", id, resp.Header)
		}
	}
	resp, body := e.req(t, "GET", "/v1/proofs/1", "{}")
	var pr apiv1.ProofResponse
	if resp.StatusCode != 200 || (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &pr) != nil {
		t.Fatalf("proof: %d %s", resp.StatusCode, body)
	}
	want := &apiv1.ProofResponse{
		Proof: &apiv1.PoetProof{
			Proof:   &apiv1.MerkleProof{Root: p.Proof.Root, ProvenLeaves: p.Proof.ProvenLeaves, ProofNodes: p.Proof.ProofNodes},
			Members: p.Members,
			Leaves:  150,
		},
		Pubkey: servicePubkey,
	}
	if !proto.Equal(&pr, want) {
		t.Fatal("proof differs")
	}
	// The gateway's JSON: field names and order, uint64 as a string.
	if !bytes.HasPrefix(body, []byte(`{"proof":{"proof":{"root":"`)) || !bytes.HasSuffix(body, []byte(`],"leaves":"150"},"pubkey":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}`)) {
		t.Errorf("proof body %.100s…%s", body, body[len(body)-100:])
	}
	if reference, _ := gatewayJSON.Marshal(want); !jsonEqual(reference, body) {
		t.Error("proof body is not the gateway's rendering")
	}
	etag := resp.Header.Get("ETag")
	if len(etag) != 34 || etag[0] != '"' || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("proof headers %v", resp.Header)
	}
	for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
		resp, body := e.req(t, "GET", "/v1/proofs/1", "{}", "If-None-Match", inm)
		if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d", inm, resp.StatusCode)
		}
	}
	if resp, _ := e.req(t, "GET", "/v1/proofs/1", "{}", "If-None-Match", `"other"`); resp.StatusCode != 200 {
		t.Errorf("other ETag: %d", resp.StatusCode)
	}

	// Over gRPC the same proof.
	got, err := apiv1.NewPoetServiceClient(e.conn).Proof(context.Background(), &apiv1.ProofRequest{RoundId: "1"})
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("gRPC proof: %v", err)
	}
	_, err = apiv1.NewPoetServiceClient(e.conn).Proof(context.Background(), &apiv1.ProofRequest{RoundId: "9"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "proof not found" {
		t.Fatalf("gRPC missing proof: %v", err)
	}
	b.mu.Lock()
	calls := b.proofCalls
	b.mu.Unlock()
	if calls != 4 { // rounds 0, 2 and 9 (not found), then 1 once; non-numbers never reach the backend
		t.Errorf("backend Proof called %d times, want 4", calls)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

// Proofs are rendered once, concurrent first requests share the rendering, and the
// least recently used are evicted.
func TestProofCache(t *testing.T) {
	proofs := map[uint64]*registration.StoredProof{}
	for r := range uint64(8) {
		proofs[r] = proofWithMembers(2)
	}
	gate := make(chan struct{})
	b := &fakeBackend{proofs: proofs, proofGate: gate}
	c := newProofCache(b, 3, nil)
	calls := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.proofCalls
	}
	var wg sync.WaitGroup
	var rendered [10]*renderedProof
	for i := range rendered {
		wg.Go(func() {
			p, err := c.get(context.Background(), "0")
			if err != nil {
				t.Error(err)
			}
			rendered[i] = p
		})
	}
	// A caller that gives up does not disturb the others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.get(ctx, "0"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled get: %v", err)
	}
	close(gate)
	wg.Wait()
	for _, p := range rendered {
		if p != rendered[0] {
			t.Fatal("concurrent gets rendered more than once")
		}
	}
	if calls() != 1 {
		t.Fatalf("%d backend calls for one round", calls())
	}
	for _, id := range []string{"1", "0", "2", "3"} { // 1 is evicted: 0 was used after it
		c.get(context.Background(), id)
	}
	before := calls()
	c.get(context.Background(), "0")
	if calls() != before {
		t.Error("round 0 was evicted")
	}
	c.get(context.Background(), "1")
	if calls() != before+1 {
		t.Error("round 1 was not evicted")
	}
}

// The reference cannot serve a proof past 8 MiB; one of a million members is 47 MB.
func TestMillionMemberProof(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a 47 MB proof")
	}
	big := proofWithMembers(1_000_000)
	cfg := testConfig()
	cfg.MaxGRPCMsgSize = 64 << 20
	e := startWith(t, &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: big}}, cfg)
	start := time.Now()
	if _, err := e.s.proofs.get(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	render := time.Since(start)
	resp, body := e.req(t, "GET", "/v1/proofs/1", "{}")
	var pr apiv1.ProofResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &pr); resp.StatusCode != 200 || err != nil {
		t.Fatalf("REST: %d %v", resp.StatusCode, err)
	}
	checkMembers(t, "REST", pr.Proof.Members, big.Members)
	start = time.Now()
	const n = 5
	for range n {
		resp, err := http.Get(e.base + "/v1/proofs/1")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
	}
	t.Logf("REST: %d bytes of JSON rendered once in %s; then served %.1f/s to a client that discards the body",
		len(body), render.Round(time.Millisecond), n/time.Since(start).Seconds())

	got, err := apiv1.NewPoetServiceClient(e.conn).Proof(context.Background(), &apiv1.ProofRequest{RoundId: "1"})
	if err != nil {
		t.Fatalf("gRPC: %v", err)
	}
	checkMembers(t, "gRPC", got.Proof.Members, big.Members)
	t.Logf("gRPC: %d bytes of protobuf", proto.Size(got))
}

func checkMembers(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d members, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: member %d differs", what, i)
		}
	}
}

func TestConfigServiceOnlyOnItsListener(t *testing.T) {
	b := &fakeBackend{}
	e := start(t, b)
	if _, err := apiv1.NewConfigurationServiceClient(e.cfgCn).ReloadTrustedKeys(context.Background(), &apiv1.ReloadTrustedKeysRequest{}); err != nil || b.reloads != 1 {
		t.Fatalf("reload: %v (%d)", err, b.reloads)
	}
	if _, err := apiv1.NewConfigurationServiceClient(e.conn).ReloadTrustedKeys(context.Background(), &apiv1.ReloadTrustedKeysRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("reload on the public gRPC listener: %v", err)
	}
	if _, err := apiv1.NewPoetServiceClient(e.cfgCn).Info(context.Background(), &apiv1.InfoRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("PoetService on the configuration listener: %v", err)
	}
	// Reflection on both servers.
	for name, conn := range map[string]*grpc.ClientConn{"rpc": e.conn, "config": e.cfgCn} {
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		resp, err := stream.Recv()
		if err != nil || len(resp.GetListServicesResponse().GetService()) < 3 {
			t.Errorf("%s reflection: %v %v", name, resp, err)
		}
		stream.CloseSend()
	}
}

func TestOpsEndpoints(t *testing.T) {
	b := &fakeBackend{}
	e := start(t, b)
	apiv1.NewPoetServiceClient(e.conn).Info(context.Background(), &apiv1.InfoRequest{})
	e.req(t, "GET", "/v1/pow_params", "{}")
	get := func(path string) (int, string) {
		resp, err := http.Get(e.ops + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for path, want := range map[string][]string{
		"/healthz": {"ok"},
		"/readyz":  {"ok"},
		"/status":  {`"openRound":4`, `"version":"test"`},
		"/metrics": {
			`grpc_server_handled_total{grpc_code="OK",grpc_method="Info",grpc_service="rpc.api.v1.PoetService",grpc_type="unary"} 1`,
			// REST calls count as gRPC calls, as with the reference's gateway.
			`grpc_server_handled_total{grpc_code="OK",grpc_method="PowParams",grpc_service="rpc.api.v1.PoetService",grpc_type="unary"} 1`,
			`grpc_server_handled_total{grpc_code="OK",grpc_method="ReloadTrustedKeys",grpc_service="rpc.api.v1.ConfigurationService",grpc_type="unary"} 0`,
			`grpc_server_handling_seconds_bucket{grpc_method="Info",grpc_service="rpc.api.v1.PoetService",grpc_type="unary",le="0.001"}`,
			`grpc_server_handling_seconds_bucket{grpc_method="Info",grpc_service="rpc.api.v1.PoetService",grpc_type="unary",le="16.384"}`,
			`grpc_server_started_total{`, `grpc_server_msg_received_total{`, `grpc_server_msg_sent_total{`,
			`poet_http_requests_total{code="200"} 1`,
		},
	} {
		code, body := get(path)
		if code != 200 {
			t.Errorf("%s: %d %.300s", path, code, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %s", path, w)
			}
		}
	}
	st, err := opsstatus.Fetch(context.Background(), nil, e.ops)
	if err != nil || st.OpenRound != 4 || st.Version != "test" {
		t.Fatalf("status client: %v %+v", err, st)
	}

	health := healthpb.NewHealthClient(e.conn)
	check := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "rpc.api.v1.PoetService"})
			if err == nil && resp.Status == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health: %v %v, want %v", resp, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	check(healthpb.HealthCheckResponse_SERVING)
	b.set(func(b *fakeBackend) { b.notReady = errors.New("recovering round 3") })
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "recovering round 3") {
		t.Errorf("readyz when not ready: %d %s", code, body)
	}
	check(healthpb.HealthCheckResponse_NOT_SERVING)
}

// A call still running at the shutdown timeout is cut off, and Run says so in time.
func TestShutdownTimeout(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	b := &fakeBackend{block: block}
	cfg := testConfig()
	cfg.ShutdownTimeout = 300 * time.Millisecond
	e := startWith(t, b, cfg)
	var inflight atomic.Int32
	go func() {
		inflight.Add(1)
		http.Post(e.base+"/v1/submit", "application/json", strings.NewReader("{}"))
	}()
	go func() {
		inflight.Add(1)
		apiv1.NewPoetServiceClient(e.conn).Submit(context.Background(), &apiv1.SubmitRequest{})
	}()
	for inflight.Load() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // both calls reach Submit
	start := time.Now()
	err := e.stop()
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "shutting down REST") || !strings.Contains(err.Error(), "stopping gRPC") {
		t.Errorf("Run returned %v, want the forced stops", err)
	}
	if took > cfg.ShutdownTimeout+2*time.Second {
		t.Errorf("Run returned after %s with a %s shutdown timeout", took, cfg.ShutdownTimeout)
	}
	e.stop = func() error { return nil } // checked here
}

// Run fails, and says where, when a listener cannot be opened; the others are closed.
func TestListenError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig()
	cfg.RESTListen = l.Addr().String()
	err = New(cfg, &fakeBackend{}, prometheus.NewRegistry(), nil).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listening for REST on "+l.Addr().String()) {
		t.Fatalf("Run: %v", err)
	}
}

// Arbitrary bodies to the REST decoder: 200 from the backend or a 4xx, never a 5xx nor
// a panic.
func FuzzRESTSubmit(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"nonce":"18446744073709551616"}`))
	f.Add([]byte(`{"deadline":"not a time","certificate":{"data":"!!"}}`))
	f.Add([]byte(`{"powParams":{"difficulty":-1}}`))
	f.Add([]byte(`{"nonce": "33", "pow_params":{"difficulty":4, "challenge":"AgI="}, "deadline":"2026-11-24T19:54:36Z"}`))
	f.Add([]byte(`{"certificatePubkeyHint":"", "certificate":{}, "unknown":{"x":[1,2]}}`))
	s := New(Config{MaxRequestBytes: 1 << 16}, &fakeBackend{}, prometheus.NewRegistry(), nil)
	h, err := s.restHandler()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/submit", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(w, r)
		if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}

// Arbitrary bytes decoded as a gRPC SubmitRequest and handled: never a panic.
func FuzzGRPCSubmit(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01, 0x3a, 0x00})
	f.Add([]byte{0x12, 0x00, 0x42, 0x00, 0x4a, 0x00}) // empty powParams, certificate, hint
	valid, _ := proto.Marshal(&apiv1.SubmitRequest{Nonce: 1, Prefix: []byte{1}, Challenge: make([]byte, 32),
		Deadline: nil, Certificate: &apiv1.SubmitRequest_Certificate{Data: []byte{1}}, CertificatePubkeyHint: []byte{1, 2, 3, 4}})
	f.Add(valid)
	s := New(Config{}, &fakeBackend{}, prometheus.NewRegistry(), nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req apiv1.SubmitRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if _, err := s.gwService.Submit(context.Background(), &req); err != nil {
			t.Fatalf("fake backend accepts everything: %v", err)
		}
	})
}

// BenchmarkProofCached serves a million-member proof from the cache over a real HTTP
// connection, as JSON and as gzip (the bytes on the wire, not decoded).
func BenchmarkProofCached(b *testing.B) {
	big := proofWithMembers(1_000_000)
	s := New(Config{}, &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: big}}, prometheus.NewRegistry(), nil)
	h, err := s.restHandler()
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	p, err := s.proofs.get(context.Background(), "1")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := p.gzipped(context.Background()); err != nil { // both forms rendered before timing
		b.Fatal(err)
	}
	for _, enc := range []string{"json", "gzip"} {
		b.Run(enc, func(b *testing.B) {
			get := func() int64 {
				r, _ := http.NewRequest("GET", srv.URL+"/v1/proofs/1", nil)
				if enc == "gzip" {
					r.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := rawClient.Do(r)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.StatusCode)
				}
				return n
			}
			b.SetBytes(get())
			for b.Loop() {
				get()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
		})
	}
}
