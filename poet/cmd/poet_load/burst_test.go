package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/server"
	opsstatus "github.com/poet-operator/poet-operator/poet/status"
)

var testPubkey = bytes.Repeat([]byte{9}, 32)

// validProof is a real proof over n random members, as the service stores it.
func validProof(t *testing.T, n int) *registration.StoredProof {
	t.Helper()
	members := make([][]byte, n)
	for i := range members {
		members[i] = make([]byte, 32)
		rand.Read(members[i])
	}
	p, err := posw.Prove(registration.MembershipRoot(members), 150)
	if err != nil {
		t.Fatal(err)
	}
	return &registration.StoredProof{Round: 3, Proof: *p, Members: members, Leaves: 150}
}

// proofBackend serves one proof through the real API server.
type proofBackend struct{ p *registration.StoredProof }

func (b proofBackend) Info() server.Info { return server.Info{ServicePubkey: testPubkey} }
func (b proofBackend) PowParams() (registration.PowParams, time.Time) {
	return registration.PowParams{}, time.Now()
}
func (b proofBackend) Submit(context.Context, registration.SubmitRequest) (uint64, time.Time, error) {
	return 0, time.Time{}, registration.ErrTooLate
}
func (b proofBackend) Proof(_ context.Context, round uint64) (*registration.StoredProof, error) {
	if round != b.p.Round {
		return nil, registration.ErrProofNotFound
	}
	return b.p, nil
}
func (b proofBackend) ReloadTrustedKeys(context.Context) error { return nil }
func (b proofBackend) Status() opsstatus.Status                { return opsstatus.Status{} }
func (b proofBackend) Ready() error                            { return nil }

func startServer(t *testing.T, p *registration.StoredProof) string {
	t.Helper()
	s := server.New(server.Config{RPCListen: "127.0.0.1:0", RESTListen: "127.0.0.1:0", ConfigRPCListen: "127.0.0.1:0"},
		proofBackend{p}, prometheus.NewRegistry(), nil)
	exited := testutil.Background(t, s.Run)
	select {
	case <-s.Listening():
	case <-exited:
		t.Fatal("the server stopped before it listened")
	}
	return "http://" + s.Addrs().REST
}

func burstOptions(url string) *options {
	return &options{url: url, concurrency: 8, burstRound: "3", cycleGap: 10 * time.Second, timeout: 30 * time.Second,
		servicePubkey: testPubkey, decodeEach: true}
}

func TestProofBurst(t *testing.T) {
	p := validProof(t, 3000)
	url := startServer(t, p)
	for _, each := range []bool{true, false} {
		o := burstOptions(url)
		o.decodeEach = each
		var out bytes.Buffer
		res, err := runBurst(context.Background(), o, &out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		checkBurst(t, res, &out)
	}
}

func checkBurst(t *testing.T, res *burstResult, out *bytes.Buffer) {
	t.Helper()
	if res.ok != 8 || len(res.failures) != 0 || res.gzip != 8 || res.members != 3000 || res.leaves != 150 {
		t.Fatalf("%+v\n%s", res, out.String())
	}
	for _, w := range res.wire {
		if w <= 0 || w >= int64(res.bodyBytes)*3/4 {
			t.Errorf("%d bytes on the wire for %d of JSON", w, res.bodyBytes)
		}
	}
	for _, line := range []string{"8 of 8 bodies equal it; 8 gzip-encoded", "latency p50", "bytes on the wire per client: ", "burst wall (first request to last body): "} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, out.String())
		}
	}
}

// A body that differs from the verified one fails its client; a proof that does not
// verify fails the burst; a proof that is not there yet is retried.
func TestProofBurstChecksBodies(t *testing.T) {
	p := validProof(t, 50)
	good, err := protojson.Marshal(&apiv1.ProofResponse{
		Proof: &apiv1.PoetProof{Proof: &apiv1.MerkleProof{Root: p.Proof.Root, ProvenLeaves: p.Proof.ProvenLeaves, ProofNodes: p.Proof.ProofNodes},
			Members: p.Members, Leaves: p.Leaves},
		Pubkey: testPubkey,
	})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	serve := func(body func(i int32) []byte) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			i := n.Add(1)
			if i == 1 {
				http.Error(w, `{"code":5,"message":"proof not found","details":[]}`, http.StatusNotFound)
				return
			}
			w.Write(body(i))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}

	// One answer in eight differs (another leaf count): that client fails.
	other := bytes.Replace(good, []byte(`"leaves":"150"`), []byte(`"leaves":"151"`), 1)
	n.Store(0)
	var out bytes.Buffer
	res, err := runBurst(context.Background(), burstOptions(serve(func(i int32) []byte {
		if i == 5 {
			return other
		}
		return good
	})), &out)
	switch {
	case err != nil:
		// The differing body happened to be the first one, the one verified and kept:
		// the burst fails on it, which is also right; anything else is not.
		if !strings.Contains(err.Error(), "PoSW") {
			t.Fatalf("%v\n%s", err, out.String())
		}
	case res.ok != 7 || len(res.failures) != 1 || res.retries404 != 1:
		t.Fatalf("%+v\n%s", res, out.String())
	}

	// A proof whose members do not give its statement does not verify.
	members := append([][]byte{bytes.Repeat([]byte{1}, 32)}, p.Members[1:]...)
	bad, _ := protojson.Marshal(&apiv1.ProofResponse{
		Proof: &apiv1.PoetProof{Proof: &apiv1.MerkleProof{Root: p.Proof.Root, ProvenLeaves: p.Proof.ProvenLeaves, ProofNodes: p.Proof.ProofNodes},
			Members: members, Leaves: p.Leaves},
		Pubkey: testPubkey,
	})
	url := serve(func(int32) []byte { return bad })
	for _, each := range []bool{true, false} {
		n.Store(0)
		o := burstOptions(url)
		o.decodeEach = each
		if _, err := runBurst(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), "PoSW") {
			t.Fatalf("a proof over other members (decode each %v): %v", each, err)
		}
	}
}
