package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
	opsstatus "github.com/poet-operator/poet-operator/poet/status"
)

// fakeBackend answers from fixed values; submitErr, when set, is every Submit's error.
type fakeBackend struct {
	mu        sync.Mutex
	certifier *Certifier
	submitErr error
	proofs    map[uint64]*registration.StoredProof
	reloads   int
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
	defer f.mu.Unlock()
	if f.submitErr != nil {
		return 0, time.Time{}, f.submitErr
	}
	return 3, roundEnd, nil
}

func (f *fakeBackend) Proof(_ context.Context, round uint64) (*registration.StoredProof, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.proofs[round]; ok {
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
	return opsstatus.Status{OpenRound: 4, Version: "test"}
}
func (f *fakeBackend) Ready() error { return nil }

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
}

func start(t *testing.T, b *fakeBackend) *env {
	t.Helper()
	s := New(Config{RPCListen: "127.0.0.1:0", RESTListen: "127.0.0.1:0", ConfigRPCListen: "127.0.0.1:0",
		MetricsListen: "127.0.0.1:0", MaxRequestBytes: 4096, ShutdownTimeout: 2 * time.Second}, b, prometheus.NewRegistry(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Listening():
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	a := s.Addrs()
	e := &env{b: b, s: s, base: "http://" + a.REST, ops: "http://" + a.Metrics}
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

func (e *env) req(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	r, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	// protojson adds random spaces on purpose, as for the reference; compare compacted.
	var c bytes.Buffer
	if json.Compact(&c, b) == nil {
		b = c.Bytes()
	}
	return resp, b
}

func TestRESTBodies(t *testing.T) {
	b := &fakeBackend{proofs: map[uint64]*registration.StoredProof{}}
	e := start(t, b)
	// GETs carry "{}", as go-spacemesh sends them.
	resp, body := e.req(t, "GET", "/v1/info", "{}")
	want := `{"servicePubkey":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=","phaseShift":"6s","cycleGap":"5s","certifier":null}`
	if resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("info: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=89" && cc != "public, max-age=90" {
		t.Fatalf("info Cache-Control %q", cc)
	}
	b.certifier = &Certifier{URL: "http://certifier", Pubkey: []byte{1, 2, 3}}
	_, body = e.req(t, "GET", "/v1/info", "{}")
	if !strings.HasSuffix(string(body), `"certifier":{"url":"http://certifier","pubkey":"AQID"}}`) {
		t.Fatalf("info with certifier: %s", body)
	}
	resp, body = e.req(t, "GET", "/v1/pow_params", "")
	if string(body) != `{"powParams":{"difficulty":4,"challenge":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="}}` || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("pow_params: %s %v", body, resp.Header)
	}
	// protojson may put random spaces after ':' and ','; snake_case names are accepted.
	resp, body = e.req(t, "POST", "/v1/submit", `{"nonce": "5", "pow_params": {"difficulty":4},  "challenge":"AA=="}`)
	var sr apiv1.SubmitResponse
	if resp.StatusCode != 200 || protojson.Unmarshal(body, &sr) != nil || sr.RoundId != "3" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("submit: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if d := sr.RoundEnd.AsDuration(); d <= 59*time.Minute || d > time.Hour || !strings.HasSuffix(string(body), `s"}`) {
		t.Fatalf("roundEnd %s in %s", d, body)
	}
}

func TestProofServing(t *testing.T) {
	b := &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: proofWithMembers(3)}}
	e := start(t, b)
	for _, id := range []string{"0", "2", "abc", "-1", "01", "99999999999999999999999"} {
		resp, body := e.req(t, "GET", "/v1/proofs/"+id, "{}")
		if resp.StatusCode != 404 || string(body) != `{"code":5,"details":[],"message":"proof not found"}` && string(body) != `{"code":5,"message":"proof not found","details":[]}` {
			t.Fatalf("proof %s: %d %s", id, resp.StatusCode, body)
		}
	}
	resp, body := e.req(t, "GET", "/v1/proofs/1", "{}")
	var pr apiv1.ProofResponse
	if resp.StatusCode != 200 || protojson.Unmarshal(body, &pr) != nil {
		t.Fatalf("proof: %d %s", resp.StatusCode, body)
	}
	if !bytes.Equal(pr.Pubkey, servicePubkey) || len(pr.Proof.Members) != 3 || pr.Proof.Leaves != 150 || !bytes.Contains(body, []byte(`"leaves":"150"`)) {
		t.Fatalf("proof body %s", body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("proof headers %v", resp.Header)
	}
	if resp, _ := e.req(t, "GET", "/v1/proofs/1", "{}", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	// Over gRPC the same proof.
	got, err := apiv1.NewPoetServiceClient(e.conn).Proof(context.Background(), &apiv1.ProofRequest{RoundId: "1"})
	if err != nil || len(got.Proof.Members) != 3 {
		t.Fatalf("gRPC proof: %v", err)
	}
	if _, err := apiv1.NewPoetServiceClient(e.conn).Proof(context.Background(), &apiv1.ProofRequest{RoundId: "9"}); status.Code(err) != codes.NotFound {
		t.Fatalf("gRPC missing proof: %v", err)
	}
}

// The reference cannot serve a proof past 8 MiB; one of a million members is 47 MB.
func TestMillionMemberProof(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a 47 MB proof")
	}
	big := proofWithMembers(1_000_000)
	e := start(t, &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: big}})
	resp, body := e.req(t, "GET", "/v1/proofs/1", "{}")
	var pr apiv1.ProofResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &pr); resp.StatusCode != 200 || err != nil {
		t.Fatalf("REST: %d %v", resp.StatusCode, err)
	}
	if len(pr.Proof.Members) != 1_000_000 || !bytes.Equal(pr.Proof.Members[999_999], big.Members[999_999]) || !bytes.Equal(pr.Proof.Members[0], big.Members[0]) {
		t.Fatal("members differ")
	}
	t.Logf("REST body: %d bytes", len(body))
	got, err := apiv1.NewPoetServiceClient(e.conn).Proof(context.Background(), &apiv1.ProofRequest{RoundId: "1"})
	if err != nil || len(got.Proof.Members) != 1_000_000 {
		t.Fatalf("gRPC: %v", err)
	}
}

func TestRESTErrors(t *testing.T) {
	b := &fakeBackend{}
	e := start(t, b)
	for _, tc := range []struct {
		err  error
		http int
		code codes.Code
	}{
		{registration.ErrInvalidPublicKey, 400, codes.InvalidArgument},
		{fmt.Errorf("%w: x", registration.ErrInvalidSignature), 400, codes.InvalidArgument},
		{registration.ErrInvalidChallenge, 400, codes.InvalidArgument},
		{registration.ErrInvalidHint, 400, codes.InvalidArgument},
		{fmt.Errorf("%w: signature mismatch", registration.ErrInvalidCertificate), 401, codes.Unauthenticated},
		{registration.ErrInvalidPowParams, 400, codes.InvalidArgument},
		{fmt.Errorf("%w: nonce", registration.ErrInvalidPow), 400, codes.InvalidArgument},
		{registration.ErrTooLate, 400, codes.FailedPrecondition},
		{registration.ErrMaxMembers, 429, codes.ResourceExhausted},
		{registration.ErrConflictingRegistration, 409, codes.AlreadyExists},
		{context.Canceled, 499, codes.Canceled},
		{fmt.Errorf("disk on fire"), 500, codes.Internal},
	} {
		b.mu.Lock()
		b.submitErr = tc.err
		b.mu.Unlock()
		resp, body := e.req(t, "POST", "/v1/submit", `{}`)
		var eb struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		json.Unmarshal(body, &eb)
		if resp.StatusCode != tc.http || eb.Code != int(tc.code) {
			t.Errorf("%v: %d %s, want %d code %d", tc.err, resp.StatusCode, body, tc.http, tc.code)
		}
		if tc.http == 401 && resp.Header.Get("Www-Authenticate") == "" {
			t.Errorf("401 without Www-Authenticate")
		}
		if tc.http == 500 && strings.Contains(string(body), "fire") {
			t.Errorf("internal error leaked: %s", body)
		}
	}
	if resp, _ := e.req(t, "POST", "/v1/submit", `{"prefix":`+strings.Repeat(" ", 5000)+`"AA=="}`); resp.StatusCode != 413 {
		t.Fatalf("oversized body: %d", resp.StatusCode)
	}
	if resp, _ := e.req(t, "POST", "/v1/submit", `{nope`); resp.StatusCode != 400 {
		t.Fatalf("malformed body: %d", resp.StatusCode)
	}
	if resp, _ := e.req(t, "POST", "/v1/reload_trusted_keys", `{}`); resp.StatusCode != 404 {
		t.Fatalf("reload_trusted_keys over REST: %d", resp.StatusCode)
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
}

func TestOpsEndpoints(t *testing.T) {
	e := start(t, &fakeBackend{})
	apiv1.NewPoetServiceClient(e.conn).Info(context.Background(), &apiv1.InfoRequest{})
	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": "ok", "/status": `"openRound":4`,
		"/metrics": `grpc_server_handled_total{grpc_code="OK",grpc_method="Info"`,
	} {
		resp, err := http.Get(e.ops + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %.300s", path, resp.StatusCode, b)
		}
	}
	st, err := opsstatus.Fetch(context.Background(), http.DefaultClient, e.ops)
	if err != nil || st.OpenRound != 4 || st.Version != "test" {
		t.Fatalf("status client: %v %+v", err, st)
	}
}

// Arbitrary bodies to the REST decoder: a 4xx or the backend's answer, never a panic.
func FuzzRESTSubmit(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"nonce":"18446744073709551616"}`))
	f.Add([]byte(`{"deadline":"not a time","certificate":{"data":"!!"}}`))
	f.Add([]byte(`{"powParams":{"difficulty":-1}}`))
	gw := runtime.NewServeMux()
	b := &fakeBackend{}
	s := New(Config{}, b, prometheus.NewRegistry(), nil)
	apiv1.RegisterPoetServiceHandlerServer(context.Background(), gw, &poetService{b: b, proofs: s.proofs, log: s.log})
	h := s.restHandler(gw)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/submit", bytes.NewReader(body))
		h.ServeHTTP(w, r)
		if w.Code != 200 && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

// Arbitrary bytes decoded as a gRPC SubmitRequest and handled: never a panic.
func FuzzGRPCSubmit(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01, 0x3a, 0x00})
	svc := &poetService{b: &fakeBackend{}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req apiv1.SubmitRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		svc.Submit(context.Background(), &req)
	})
}

func BenchmarkProofCached(b *testing.B) {
	big := proofWithMembers(1_000_000)
	backend := &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: big}}
	s := New(Config{}, backend, prometheus.NewRegistry(), nil)
	gw := runtime.NewServeMux()
	h := s.restHandler(gw)
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func() int {
		resp, err := http.Get(srv.URL + "/v1/proofs/1")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return int(n)
	}
	size := get()
	b.SetBytes(int64(size))
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
}
