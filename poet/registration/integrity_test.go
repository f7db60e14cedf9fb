package registration

import (
	"bytes"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// flipStoredProofByte flips one byte in the middle of a stored proof, as a failing disk
// would, with the registry closed.
func flipStoredProofByte(t *testing.T, path string, round uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProofs)
		v := bytes.Clone(b.Get(roundKey(round)))
		if v == nil {
			t.Fatalf("no stored proof of round %d", round)
		}
		v[len(v)/2] ^= 0x01
		return b.Put(roundKey(round), v)
	}); err != nil {
		t.Fatal(err)
	}
}

// Issue 10, row 5: one byte flipped inside a stored proof was served (200). Now the read
// fails with ErrCorruptProof (the API answers 500 for that round only), the failure is
// counted, and the other rounds' proofs are still served.
func TestCorruptStoredProofIsNotServed(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	for round := range uint64(2) {
		if err := r.SaveProof(provenRound(t, round, [][]byte{challenge(round)}, 160+round)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	flipStoredProofByte(t, env.path, 0)
	r2 := env.open(t)
	_, err := r2.Proof(0)
	wantErr(t, err, ErrCorruptProof)
	if got := counterValue(r2.m.corruptProofs); got != 1 {
		t.Fatalf("corrupt-read counter %v, want 1", got)
	}
	p1, err := r2.Proof(1)
	if err != nil {
		t.Fatalf("an intact round next to a corrupt one: %v", err)
	}
	if err := VerifyProof(p1); err != nil {
		t.Fatal(err)
	}
}

// A proof that does not verify is never stored, whatever is wrong with it.
func TestSaveProofRefusesInvalidProofs(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	members := [][]byte{challenge(1), challenge(2)}
	good := provenRound(t, 0, members, 170)
	cases := map[string]func(p *StoredProof){
		"flipped label":     func(p *StoredProof) { p.Proof.ProvenLeaves[3][7] ^= 1 },
		"flipped node":      func(p *StoredProof) { p.Proof.ProofNodes[0][0] ^= 1 },
		"flipped root":      func(p *StoredProof) { p.Proof.Root[31] ^= 1 },
		"other leaf count":  func(p *StoredProof) { p.Leaves++ },
		"other members":     func(p *StoredProof) { p.Members = [][]byte{challenge(1)} },
		"too few leaves":    func(p *StoredProof) { p.Leaves = 149 },
		"no proven leaves":  func(p *StoredProof) { p.Proof.ProvenLeaves = nil },
		"members reordered": func(p *StoredProof) { p.Members = [][]byte{members[1], members[0]} },
	}
	for name, damage := range cases {
		p := provenRound(t, 0, members, 170)
		damage(&p)
		err := r.SaveProof(p)
		wantErr(t, err, ErrInvalidProof)
		if _, err := r.Proof(0); err == nil {
			t.Fatalf("%s: an invalid proof was stored", name)
		}
	}
	if got := counterValue(r.m.invalidProofs); got != float64(len(cases)) {
		t.Fatalf("invalid-proof counter %v, want %d", got, len(cases))
	}
	if err := r.SaveProof(good); err != nil {
		t.Fatal(err)
	}
	bad := provenRound(t, 1, members, 150)
	bad.Proof.ProvenLeaves[0][0] ^= 1
	if _, err := r.ImportProof(bad); err == nil {
		t.Fatal("an imported invalid proof was stored")
	}
	if _, err := r.Proof(1); err == nil {
		t.Fatal("an imported invalid proof is served")
	}
}

func TestImportMembers(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	open := r.OpenRound()
	theirs := make([]Member, 4)
	for i := range theirs {
		theirs[i] = Member{NodeID: newNode(uint64(10 + i)).pub, Challenge: challenge(uint64(10 + i))}
	}
	mustSubmit(t, r, newNode(1).request(r, challenge(1)))
	res, err := r.ImportMembers(open, theirs)
	if err != nil || res.Added != 4 || res.Skipped != "" {
		t.Fatalf("open round: %+v %v", res, err)
	}
	res, err = r.ImportMembers(open, theirs)
	if err != nil || res.Added != 0 || res.Present != 4 {
		t.Fatalf("importing again: %+v %v", res, err)
	}
	if n := r.RoundMembers(open); n != 5 {
		t.Fatalf("%d members, want 5", n)
	}
	// A closed round whose members here are not all among the imported ones keeps its
	// statement.
	stmt, _, err := r.CloseRound(open)
	if err != nil {
		t.Fatal(err)
	}
	res, err = r.ImportMembers(open, append(theirs, Member{NodeID: newNode(20).pub, Challenge: challenge(20)})[1:])
	if err != nil || res.Skipped == "" || res.Added != 0 {
		t.Fatalf("closed round with other members: %+v %v", res, err)
	}
	// A closed round that has a subset of the imported members takes them all.
	res, err = r.ImportMembers(open, append(theirs, Member{NodeID: newNode(1).pub, Challenge: challenge(1)}, Member{NodeID: newNode(20).pub, Challenge: challenge(20)}))
	if err != nil || res.Added != 1 || res.Skipped != "" {
		t.Fatalf("closed round, superset: %+v %v", res, err)
	}
	stmt2, n, err := r.CloseRound(open)
	if err != nil || n != 6 || bytes.Equal(stmt, stmt2) {
		t.Fatalf("after import: %d members, %v", n, err)
	}
	ms, _ := r.Members(open)
	if err := r.SaveProof(provenRound(t, open, ms, 150)); err != nil {
		t.Fatal(err)
	}
	res, err = r.ImportMembers(open, []Member{{NodeID: newNode(30).pub, Challenge: challenge(30)}})
	if err != nil || res.Skipped == "" {
		t.Fatalf("round with a proof: %+v %v", res, err)
	}
}
