package compat

// An end-to-end check of our PoET service (poet/cmd/poet) from the point of view of an
// unmodified go-spacemesh node (../../shared/spec/node-client.md §1, §4, §7). Everything
// on the client side comes from the reference github.com/spacemeshos/poet v0.10.12 and
// github.com/spacemeshos/merkle-tree: the generated rpc.api.v1 types (with protojson),
// the PoW nonce search, the membership-tree hash, the PoSW verifier and the SCALE
// encoding of the proof.
//
// This file must not import our poet/api/v1: both packages register the proto package
// rpc.api.v1 and the test binary would panic at init with a registration conflict.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spacemeshos/go-scale"
	"github.com/spacemeshos/merkle-tree"
	"github.com/spacemeshos/poet/hash"
	rpcapi "github.com/spacemeshos/poet/release/proto/go/rpc/api/v1"
	"github.com/spacemeshos/poet/shared"
	"github.com/spacemeshos/poet/verifier"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// nodeE2ETiming is the schedule of the node test's poet.
var nodeE2ETiming = timing{epoch: 12 * time.Second, phaseShift: 6 * time.Second, cycleGap: 3 * time.Second}

const (
	nodeE2EPowDiff = 4
	// maxProofNodes is the SCALE limit of shared.MerkleProof.ProofNodes (node-client.md §4).
	maxProofNodes = 5400
)

// syncBuffer collects the server's output; the process writes while the test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// buildOurPoet builds poet/cmd/poet in the main module (repo root = ../..).
func buildOurPoet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "poet")
	cmd := exec.Command("go", "build", "-o", bin, "./poet/cmd/poet")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./poet/cmd/poet: %v\n%s", err, out)
	}
	return bin
}

// timing is a poet's schedule.
type timing struct{ epoch, phaseShift, cycleGap time.Duration }

// flags are the schedule's flags, the same for the reference and ours.
func (tm timing) flags(genesis time.Time) []string {
	return []string{
		"--genesis-time", genesis.UTC().Format(time.RFC3339Nano),
		"--epoch-duration", tm.epoch.String(),
		"--phase-shift", tm.phaseShift.String(),
		"--cycle-gap", tm.cycleGap.String(),
	}
}

// poetFlags are the flags of a run of the reference or ours on poetdir: the schedule and
// its REST, gRPC and configuration listeners on loopback; rest is the REST address.
func poetFlags(t *testing.T, poetdir string, genesis time.Time, tm timing) (rest string, flags []string) {
	t.Helper()
	rest = loopbackAddr(t)
	flags = append([]string{"--poetdir", poetdir}, tm.flags(genesis)...)
	return rest, append(flags, "--restlisten", rest, "--rpclisten", loopbackAddr(t), "--config-rpclisten", loopbackAddr(t))
}

func loopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startOurPoet runs the binary with the given genesis and waits for /readyz on the
// metrics port. It returns the REST base URL and the server's output.
func startOurPoet(t *testing.T, bin string, genesis time.Time) (string, *syncBuffer) {
	t.Helper()
	rest, flags := poetFlags(t, t.TempDir(), genesis, nodeE2ETiming)
	_, opsPort, _ := net.SplitHostPort(loopbackAddr(t))
	cmd := exec.Command(bin, append(flags, "--metrics-port", opsPort, "--pow-difficulty", fmt.Sprint(nodeE2EPowDiff))...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("poet output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + opsPort + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "http://" + rest, out
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("poet not ready within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nodeClient sends requests the way go-spacemesh's HTTPPoetClient.req does: body =
// protojson.Marshal(request) ("{}" for a nil request, i.e. every GET), Content-Type
// application/json, and the body is parsed (DiscardUnknown) only on 200.
type nodeClient struct {
	base string
	http *http.Client
}

func (c *nodeClient) do(method, path string, req, out proto.Message) (int, []byte, error) {
	body := []byte("{}") // protojson.Marshal(nil) == "{}"
	if req != nil {
		b, err := protojson.Marshal(req)
		if err != nil {
			return 0, nil, fmt.Errorf("protojson.Marshal: %w", err)
		}
		body = b
	}
	r, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("protojson.Unmarshal %s: %w (body %s)", path, err, raw)
		}
	}
	return resp.StatusCode, raw, nil
}

type nodeIdentity struct {
	pub       ed25519.PublicKey
	priv      ed25519.PrivateKey
	challenge []byte
	req       *rpcapi.SubmitRequest
	round     string
	roundEnd  time.Time
}

// newNodeIdentity is a fresh identity with its PoW-path request, the nonce found by the
// reference's search, as go-spacemesh builds it (genesis ID all zero).
func newNodeIdentity(t *testing.T, pp *rpcapi.PowParams, deadline time.Time) *nodeIdentity {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	challenge := make([]byte, 32)
	if _, err := rand.Read(challenge); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nonce, err := shared.FindSubmitPowNonce(ctx, pp.GetChallenge(), challenge, pub, uint(pp.GetDifficulty()))
	if err != nil {
		t.Fatalf("FindSubmitPowNonce: %v", err)
	}
	prefix := append(make([]byte, 20), 0x04)
	req := &rpcapi.SubmitRequest{
		Nonce:     nonce,
		PowParams: pp,
		Prefix:    prefix,
		Challenge: challenge,
		Pubkey:    pub,
		Signature: ed25519.Sign(priv, append(slices.Clone(prefix), challenge...)),
		Deadline:  timestamppb.New(deadline),
	}
	return &nodeIdentity{pub: pub, priv: priv, challenge: challenge, req: req}
}

// membershipTree builds the tree of the statement exactly as go-spacemesh does: the
// members, in the order received, as leaves of a merkle-tree with
// shared.HashMembershipTreeNode; with prove, it proves those leaves.
func membershipTree(tb testing.TB, members [][]byte, prove ...uint64) *merkle.Tree {
	tb.Helper()
	b := merkle.NewTreeBuilder().WithHashFunc(shared.HashMembershipTreeNode)
	if len(prove) > 0 {
		leaves := map[uint64]bool{}
		for _, i := range prove {
			leaves[i] = true
		}
		b = b.WithLeavesToProve(leaves)
	}
	tree, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range members {
		if err := tree.AddLeaf(m); err != nil {
			tb.Fatal(err)
		}
	}
	return tree
}

func TestNodeClientAgainstOurPoet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not running the poet service end to end")
	}
	bin := buildOurPoet(t)
	genesis := time.Now()
	base, _ := startOurPoet(t, bin, genesis)
	c := &nodeClient{base: base, http: &http.Client{Timeout: 30 * time.Second}}
	t.Logf("poet ready %v after genesis", time.Since(genesis).Round(time.Millisecond))

	// GET /v1/info.
	var info rpcapi.InfoResponse
	if code, raw, err := c.do(http.MethodGet, "/v1/info", nil, &info); err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/info: %d %v %s", code, err, raw)
	}
	if got := info.GetPhaseShift().AsDuration(); got != nodeE2ETiming.phaseShift {
		t.Errorf("/v1/info phaseShift = %v, want exactly %v (the node would exit)", got, nodeE2ETiming.phaseShift)
	}
	if len(info.GetServicePubkey()) != ed25519.PublicKeySize {
		t.Fatalf("/v1/info servicePubkey is %d bytes, want 32", len(info.GetServicePubkey()))
	}
	t.Logf("/v1/info: phaseShift=%v cycleGap=%v certifier=%v servicePubkey=%x",
		info.GetPhaseShift().AsDuration(), info.GetCycleGap().AsDuration(), info.GetCertifier(), info.GetServicePubkey())

	// GET /v1/pow_params.
	var pp rpcapi.PowParamsResponse
	if code, raw, err := c.do(http.MethodGet, "/v1/pow_params", nil, &pp); err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/pow_params: %d %v %s", code, err, raw)
	}
	if pp.GetPowParams() == nil {
		t.Fatalf("/v1/pow_params has no powParams")
	}
	if d := pp.GetPowParams().GetDifficulty(); d != nodeE2EPowDiff {
		t.Errorf("/v1/pow_params difficulty = %d, want %d", d, nodeE2EPowDiff)
	}
	t.Logf("/v1/pow_params: difficulty=%d challenge=%x", pp.GetPowParams().GetDifficulty(), pp.GetPowParams().GetChallenge())

	// POST /v1/submit for 3 identities on the PoW path.
	deadline := time.Now().Add(24 * time.Hour)
	ids := make([]*nodeIdentity, 3)
	for i := range ids {
		id := newNodeIdentity(t, pp.GetPowParams(), deadline)
		var resp rpcapi.SubmitResponse
		sent := time.Now()
		code, raw, err := c.do(http.MethodPost, "/v1/submit", id.req, &resp)
		if err != nil || code != http.StatusOK {
			t.Fatalf("POST /v1/submit (identity %d): %d %v %s", i, code, err, raw)
		}
		if resp.GetRoundId() == "" || len(resp.GetRoundId()) > 32 {
			t.Fatalf("submit roundId %q: want 1..32 characters", resp.GetRoundId())
		}
		if resp.GetRoundEnd() == nil {
			t.Fatalf("submit response has no roundEnd: %s", raw)
		}
		id.round = resp.GetRoundId()
		id.roundEnd = sent.Add(resp.GetRoundEnd().AsDuration())
		t.Logf("identity %d: nonce=%d round=%q roundEnd=%v (in %v), body %s",
			i, id.req.Nonce, id.round, resp.GetRoundEnd().AsDuration(), time.Until(id.roundEnd).Round(time.Millisecond), raw)
		ids[i] = id
	}

	// An identical resubmission: 200 with the same round.
	{
		var resp rpcapi.SubmitResponse
		code, raw, err := c.do(http.MethodPost, "/v1/submit", ids[1].req, &resp)
		if err != nil || code != http.StatusOK {
			t.Errorf("identical resubmit: %d %v %s, want 200", code, err, raw)
		} else if resp.GetRoundId() != ids[1].round {
			t.Errorf("identical resubmit: round %q, want %q", resp.GetRoundId(), ids[1].round)
		}
	}

	// Fetch and validate each round's proof, as HTTPPoetClient.Proof + PoetDb.Validate do.
	rounds := map[string]time.Time{}
	for _, id := range ids {
		if end, ok := rounds[id.round]; !ok || id.roundEnd.After(end) {
			rounds[id.round] = id.roundEnd
		}
	}
	if len(rounds) != 1 {
		t.Logf("identities landed in %d rounds (a round boundary passed during the submits)", len(rounds))
	}
	for round, end := range rounds {
		var mine []*nodeIdentity
		for _, id := range ids {
			if id.round == round {
				mine = append(mine, id)
			}
		}
		t.Run("round"+round, func(t *testing.T) {
			proof := fetchProof(t, c, round, end)
			validateNodeProof(t, proof, info.GetServicePubkey(), mine)
		})
	}
}

// fetchProof waits until roundEnd plus a little jitter and then GETs the proof,
// retrying 404 like the node's default client (but for a bit longer, to report how long
// it took). Anything but 200/404 fails at once.
func fetchProof(t *testing.T, c *nodeClient, round string, end time.Time) *rpcapi.ProofResponse {
	t.Helper()
	time.Sleep(time.Until(end) + 10*time.Millisecond)
	start := time.Now()
	resp, _ := waitProof(t, c, round, start.Add(60*time.Second))
	took := time.Since(start)
	t.Logf("proof of round %q available %v after roundEnd", round, took.Round(time.Millisecond))
	if took > 22*time.Second {
		t.Errorf("proof took %v after roundEnd; the node's default 404 retries give up after ~22-44s", took)
	}
	return resp
}

func validateNodeProof(t *testing.T, resp *rpcapi.ProofResponse, servicePubkey []byte, ids []*nodeIdentity) {
	t.Helper()
	pp := resp.GetProof()
	if pp == nil || pp.GetProof() == nil {
		t.Fatalf("proof response without proof: %v", resp)
	}
	members := pp.GetMembers()
	leaves := pp.GetLeaves()
	mp := shared.MerkleProof{
		Root:         pp.GetProof().GetRoot(),
		ProvenLeaves: pp.GetProof().GetProvenLeaves(),
		ProofNodes:   pp.GetProof().GetProofNodes(),
	}
	t.Logf("proof: %d members, leaves=%d, %d proven leaves, %d proof nodes, pubkey=%x",
		len(members), leaves, len(mp.ProvenLeaves), len(mp.ProofNodes), resp.GetPubkey())

	// Service key: equal to /v1/info servicePubkey (and so at least 5 bytes).
	if !bytes.Equal(resp.GetPubkey(), servicePubkey) {
		t.Errorf("proof pubkey %x != /v1/info servicePubkey %x", resp.GetPubkey(), servicePubkey)
	}

	// Members: each exactly 32 bytes (the node copies them into [32]byte).
	for i, m := range members {
		if len(m) != 32 {
			t.Errorf("member %d is %d bytes, want 32", i, len(m))
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Statement = membership root of the members, in order.
	stmt := membershipTree(t, members).Root()

	// The PoSW proof.
	if err := verifier.Validate(mp, hash.GenLabelHashFunc(stmt), hash.GenMerkleHashFunc(stmt), leaves, shared.T); err != nil {
		t.Errorf("verifier.Validate(statement=%x, leaves=%d, T=%d): %v", stmt, leaves, shared.T, err)
	}
	if len(mp.ProofNodes) > maxProofNodes {
		t.Errorf("%d proof nodes > %d", len(mp.ProofNodes), maxProofNodes)
	}

	// SCALE: the proof must encode within the limits (the node computes its ref from it:
	// blake3(scale(PoetProof{MerkleProof, LeafCount compact u64}))).
	var buf bytes.Buffer
	enc := scale.NewEncoder(&buf)
	if _, err := mp.EncodeScale(enc); err != nil {
		t.Errorf("shared.MerkleProof.EncodeScale: %v", err)
	} else if _, err := scale.EncodeCompact64(enc, leaves); err != nil {
		t.Errorf("scale.EncodeCompact64(leaves): %v", err)
	} else {
		var back shared.MerkleProof
		if _, err := back.DecodeScale(scale.NewDecoder(bytes.NewReader(buf.Bytes()))); err != nil {
			t.Errorf("shared.MerkleProof.DecodeScale of our encoding: %v", err)
		}
		t.Logf("SCALE encoding of the proof: %d bytes", buf.Len())
	}

	// Each identity finds its challenge among the members, and its membership proof
	// validates against the statement.
	for i, id := range ids {
		idx := slices.IndexFunc(members, func(m []byte) bool { return bytes.Equal(m, id.challenge) })
		if idx < 0 {
			t.Errorf("identity %d: challenge %x not among the %d members", i, id.challenge, len(members))
			continue
		}
		root, nodes := membershipTree(t, members, uint64(idx)).RootAndProof()
		if !bytes.Equal(root, stmt) {
			t.Errorf("identity %d: proving tree root %x != statement %x", i, root, stmt)
		}
		ok, err := merkle.ValidatePartialTree([]uint64{uint64(idx)}, [][]byte{id.challenge}, nodes, stmt,
			shared.HashMembershipTreeNode)
		if err != nil || !ok {
			t.Errorf("identity %d: membership proof (index %d, %d nodes) does not validate: ok=%v err=%v",
				i, idx, len(nodes), ok, err)
		}
	}
	// No duplicate members (resubmission must not add the challenge twice).
	seen := map[string]bool{}
	for i, m := range members {
		if seen[string(m)] {
			t.Errorf("member %d (%x) appears twice", i, m)
		}
		seen[string(m)] = true
	}
}
