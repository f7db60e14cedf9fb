// Command seedproof stores one finished round's proof, over N random members, in a
// fresh database of our poet and in one of the reference poet (v0.10.12), so that both
// servers serve the same kind of proof for a side-by-side proof-burst benchmark
// (hack/burst-compare.sh) without running a round. The proof is a real one: the PoSW
// over the members' membership root, as a round would prove it. It prints the service
// key both servers must use, as shell assignments.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	xdr "github.com/nullstyle/go-xdr/xdr3"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// referenceProof is the value the reference keeps in <dbdir>/proofs under the round ID:
// XDR of {Proof{MerkleProof{Root, ProvenLeaves, ProofNodes}, Members, NumLeaves},
// ServicePubKey, RoundID} (reference-poet.md §9).
type referenceProof struct {
	Proof struct {
		Root         []byte
		ProvenLeaves [][]byte
		ProofNodes   [][]byte
		Members      [][]byte
		NumLeaves    uint64
	}
	ServicePubKey []byte
	RoundID       string
}

func main() {
	members := flag.Int("members", 1000, "members in the proof")
	leaves := flag.Uint64("leaves", 150, "PoSW leaves (at least 150)")
	round := flag.Uint64("round", 0, "the round ID")
	ours := flag.String("ours", "", "our poet's --dbdir to create")
	ref := flag.String("reference", "", "the reference poet's --dbdir to create")
	flag.Parse()
	if err := run(*members, *leaves, *round, *ours, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "seedproof:", err)
		os.Exit(1)
	}
}

func run(n int, leaves, round uint64, ours, ref string) error {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	buf := make([]byte, 32*n)
	rand.Read(buf)
	members := make([][]byte, n)
	for i := range members {
		members[i] = buf[32*i : 32*i+32]
	}
	// A round lists the challenges in node-ID order: to the eye (and to gzip) random.
	proof, err := posw.Prove(registration.MembershipRoot(members), leaves)
	if err != nil {
		return fmt.Errorf("proving: %w", err)
	}
	if ours != "" {
		if err := os.MkdirAll(ours, 0o755); err != nil {
			return err
		}
		// Only validated by Open; the servers' own flags decide their schedule.
		sched := schedule.Schedule{Genesis: time.Now(), EpochDuration: time.Hour, PhaseShift: time.Minute, CycleGap: time.Minute}
		reg, err := registration.Open(filepath.Join(ours, "registrations.db"), sched, registration.Config{})
		if err != nil {
			return fmt.Errorf("opening our registrations: %w", err)
		}
		err = reg.SaveProof(registration.StoredProof{Round: round, Proof: *proof, Members: members, Leaves: leaves})
		if cerr := reg.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("saving our proof: %w", err)
		}
	}
	if ref != "" {
		var v referenceProof
		v.Proof.Root, v.Proof.ProvenLeaves, v.Proof.ProofNodes = proof.Root, proof.ProvenLeaves, proof.ProofNodes
		v.Proof.Members, v.Proof.NumLeaves = members, leaves
		v.ServicePubKey, v.RoundID = pub, strconv.FormatUint(round, 10)
		var data bytes.Buffer
		if _, err := xdr.Marshal(&data, &v); err != nil {
			return fmt.Errorf("encoding the reference's proof: %w", err)
		}
		db, err := leveldb.OpenFile(filepath.Join(ref, "proofs"), nil)
		if err != nil {
			return fmt.Errorf("opening the reference's proofs: %w", err)
		}
		err = db.Put([]byte(v.RoundID), data.Bytes(), &opt.WriteOptions{Sync: true})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("saving the reference's proof: %w", err)
		}
	}
	fmt.Printf("POET_PRIVATE_KEY=%s\nSERVICE_PUBKEY=%s\n", base64.StdEncoding.EncodeToString(priv), base64.StdEncoding.EncodeToString(pub))
	return nil
}
