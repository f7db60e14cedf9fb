package compat

// The proof codec against the reference's XDR library: state.bin and the proofs
// database record are what nullstyle/go-xdr (xdr3) writes for the reference's own struct
// shapes (service.roundState, registration.proofData, shared.MerkleProof), byte for
// byte, and each side reads what the other wrote.

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	xdr "github.com/nullstyle/go-xdr/xdr3"
	"github.com/spacemeshos/poet/shared"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/proofcodec"
	ourprover "github.com/poet-operator/poet-operator/poet/prover"
)

// The reference's unexported types, field for field (go-xdr encodes by field order).
type (
	refRoundStateXDR struct {
		ExecutionStarted time.Time
		Execution        *refPersistedRoundState
	}
	refPersistedRoundState struct {
		SecurityParam uint8
		Members       [][]byte
		Statement     []byte
		ParkedNodes   [][]byte
		NumLeaves     uint64
		NIP           *shared.MerkleProof
	}
	refProofData struct {
		Proof struct {
			shared.MerkleProof
			Members   [][]byte
			NumLeaves uint64
		}
		ServicePubKey []byte
		RoundID       string
	}
)

// randList is a list of n items of lengths 0..40 (every padding), or of 32 bytes.
func randList(rng *rand.Rand, n int) [][]byte {
	l := make([][]byte, n)
	for i := range l {
		size := 32
		if rng.IntN(2) == 0 {
			size = rng.IntN(41)
		}
		l[i] = randBytes(rng, size)
	}
	return l
}

func randProof(rng *rand.Rand) posw.Proof {
	return posw.Proof{Root: randBytes(rng, rng.IntN(34)), ProvenLeaves: randList(rng, rng.IntN(5)), ProofNodes: randList(rng, rng.IntN(20))}
}

func goXDR(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := xdr.Marshal(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestStateBinMatchesGoXDR(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	for i := range 200 {
		started := time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()
		ours := &ourprover.State{ExecutionStarted: started}
		ref := &refRoundStateXDR{ExecutionStarted: started}
		if i%5 != 0 {
			x := &ourprover.Execution{SecurityParam: uint8(rng.Uint32()), Members: [][]byte{}, Statement: randBytes(rng, rng.IntN(40)),
				ParkedNodes: [][]byte{}, NumLeaves: rng.Uint64()}
			ours.Execution = x
			ref.Execution = &refPersistedRoundState{SecurityParam: x.SecurityParam, Members: x.Members, Statement: x.Statement,
				ParkedNodes: x.ParkedNodes, NumLeaves: x.NumLeaves}
			if i%2 == 0 {
				p := randProof(rng)
				x.NIP = &p
				ref.Execution.NIP = &shared.MerkleProof{Root: p.Root, ProvenLeaves: p.ProvenLeaves, ProofNodes: p.ProofNodes}
			}
		}
		want := goXDR(t, ref)
		got, _ := ours.MarshalBinary()
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: ours\n%x\ngo-xdr\n%x", i, got, want)
		}
		var back ourprover.State
		if err := back.UnmarshalBinary(want); err != nil || !reflect.DeepEqual(&back, ours) {
			t.Fatalf("case %d: go-xdr's bytes decode to %+v, %v", i, back, err)
		}
		// go-xdr reads ours back to what it writes as the same bytes (its empty slices
		// may come back nil, so the values are compared through their encoding).
		var refBack refRoundStateXDR
		if _, err := xdr.Unmarshal(bytes.NewReader(got), &refBack); err != nil || !bytes.Equal(goXDR(t, &refBack), want) {
			t.Fatalf("case %d: go-xdr reads ours as %+v, %v", i, refBack, err)
		}
	}
}

func TestProofDataMatchesGoXDR(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2))
	for i := range 200 {
		d := &proofcodec.ProofData{Proof: randProof(rng), Members: randList(rng, rng.IntN(30)), Leaves: rng.Uint64(),
			ServicePubkey: randBytes(rng, rng.IntN(40)), RoundID: string(randBytes(rng, rng.IntN(12)))}
		var ref refProofData
		ref.Proof.MerkleProof = shared.MerkleProof{Root: d.Proof.Root, ProvenLeaves: d.Proof.ProvenLeaves, ProofNodes: d.Proof.ProofNodes}
		ref.Proof.Members, ref.Proof.NumLeaves, ref.ServicePubKey, ref.RoundID = d.Members, d.Leaves, d.ServicePubkey, d.RoundID
		want := goXDR(t, &ref)
		var w proofcodec.Writer
		proofcodec.AppendProofData(&w, d)
		if !bytes.Equal(w.Bytes(), want) {
			t.Fatalf("case %d: ours\n%x\ngo-xdr\n%x", i, w.Bytes(), want)
		}
		got, err := proofcodec.DecodeProofData(want)
		if err != nil || !reflect.DeepEqual(got, d) {
			t.Fatalf("case %d: go-xdr's bytes decode to %+v, %v", i, got, err)
		}
		var refBack refProofData
		if _, err := xdr.Unmarshal(bytes.NewReader(w.Bytes()), &refBack); err != nil || !bytes.Equal(goXDR(t, &refBack), want) {
			t.Fatalf("case %d: go-xdr reads ours as %+v, %v", i, refBack, err)
		}
		var mw proofcodec.Writer
		proofcodec.AppendMerkleProof(&mw, &d.Proof)
		if mp := goXDR(t, &ref.Proof.MerkleProof); !bytes.Equal(mw.Bytes(), mp) {
			t.Fatalf("case %d: MerkleProof ours %x, go-xdr %x", i, mw.Bytes(), mp)
		}
	}
}
