package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/nodeclient"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Issue 10, row 5: one byte flipped inside a stored proof in registrations.db was served
// with 200. Now that round answers 5xx (and only that round: the next one is served).
func TestCorruptStoredProofIs5xx(t *testing.T) {
	p := newPoet(t, time.Hour)
	path := filepath.Join(p.dir, "db", "registrations.db")
	sched := schedule.Schedule{Genesis: p.genesis, EpochDuration: epoch, PhaseShift: phaseShift, CycleGap: cycleGap}
	reg, err := registration.Open(path, sched, registration.Config{MaxRoundMembers: 10})
	if err != nil {
		t.Fatal(err)
	}
	for round := range uint64(2) {
		members := [][]byte{bytes.Repeat([]byte{byte(round + 1)}, 32)}
		pr, err := posw.Prove(registration.MembershipRoot(members), 200)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.SaveProof(registration.StoredProof{Round: round, Proof: *pr, Members: members, Leaves: 200}); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("proofs"))
		k := binary.BigEndian.AppendUint64(nil, 0)
		v := bytes.Clone(b.Get(k))
		v[len(v)/3] ^= 0x04
		return b.Put(k, v)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	p.start()
	n := p.node()
	if err := n.Do(context.Background(), http.MethodGet, "/v1/proofs/0", nil, nil); nodeclient.Code(err) < 500 {
		t.Fatalf("GET /v1/proofs/0 of a corrupt stored proof: %v, want 5xx", err)
	}
	if err := n.Do(context.Background(), http.MethodGet, "/v1/proofs/1", nil, nil); err != nil {
		t.Fatalf("GET /v1/proofs/1 next to a corrupt round: %v", err)
	}
	if !bytes.Contains(p.log.Bytes(), []byte("stored proof is corrupt")) {
		t.Errorf("no error logged:\n%s", p.log)
	}
}
