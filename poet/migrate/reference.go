// Package migrate adopts the data directory of the reference PoET service
// (spacemeshos/poet v0.10.12): the registrations of its rounds and its finished
// proofs are imported into this service's store. The in-progress round needs no
// import: its checkpoint (<datadir>/rounds/<n>/state.bin and layercache_<h>.bin) has
// the same format here and is resumed in place once the round's members are imported,
// because the statement is computed from them exactly as the reference computed it.
//
// The reference's databases are opened read-only and never written: the import can run
// any number of times (it adds only what is missing) and the reference can be started
// again on the same directory.
package migrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/poet-operator/poet-operator/poet/proofcodec"
	"github.com/poet-operator/poet-operator/poet/prover"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// Reference is what a reference data directory holds, as read by Read.
type Reference struct {
	// Rounds are the registration databases <dbdir>/rounds/<n>, by round.
	Rounds []Round
	// Proofs are the finished proofs of <dbdir>/proofs, by round.
	Proofs []Proof
	// Checkpoints are the rounds with a state.bin in <datadir>/rounds/<n>.
	Checkpoints []Checkpoint
	// Found reports reference databases in the directory, imported already or not.
	Found bool
	// PowChallenge is the PoW challenge stored in the proofs database (the one the
	// reference serves after a restart); LastRoot the root of its newest proof (the
	// challenge it served since that proof, had it kept running).
	PowChallenge, LastRoot []byte
}

// Round is one round's registrations, in node-ID order (the reference's key order).
type Round struct {
	ID      uint64
	Members []registration.Member
}

// Proof is one finished proof of the reference's proofs database.
type Proof struct {
	registration.StoredProof
	// ServicePubkey is the key the reference stored with the proof.
	ServicePubkey []byte
}

// Checkpoint is a round directory the reference (or this service) left.
type Checkpoint struct {
	Round uint64
	// Statement and Leaves are state.bin's; Finished says it holds a proof.
	Statement []byte
	Leaves    uint64
	Finished  bool
	// Err is set when state.bin cannot be read.
	Err error
}

// Members returns the registrations of round n (nil when the reference has none).
func (r *Reference) Members(n uint64) []registration.Member {
	for _, rd := range r.Rounds {
		if rd.ID == n {
			return rd.Members
		}
	}
	return nil
}

// ErrLocked reports a reference database another process holds: the reference poet
// still runs on this directory.
var ErrLocked = errors.New("the database is locked by another process (is the reference poet still running on this directory?)")

// Read reads the reference's databases under dbDir (rounds/<n>, proofs) and the round
// checkpoints under dataDir/rounds, without writing anything. A directory without them
// gives an empty Reference. have, when not nil, names the rounds that already have a
// proof here: neither their registrations nor their proof are read again (a proof of a
// million members is 34 MB).
func Read(dbDir, dataDir string, have func(round uint64) bool) (*Reference, error) {
	ref := &Reference{}
	ents, err := os.ReadDir(filepath.Join(dbDir, "rounds"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listing the reference's rounds: %w", err)
	}
	for _, e := range ents {
		n, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() || strconv.FormatUint(n, 10) != e.Name() {
			continue
		}
		ref.Found = true
		if have != nil && have(n) {
			continue
		}
		members, err := readRound(filepath.Join(dbDir, "rounds", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading the reference's round %d: %w", n, err)
		}
		ref.Rounds = append(ref.Rounds, Round{ID: n, Members: members})
	}
	slices.SortFunc(ref.Rounds, func(a, b Round) int { return cmpU64(a.ID, b.ID) })

	proofsDir := filepath.Join(dbDir, "proofs")
	if fi, err := os.Stat(filepath.Join(proofsDir, "CURRENT")); err == nil && fi.Mode().IsRegular() {
		ref.Found = true
		if ref.Proofs, err = readProofs(proofsDir, have); err != nil {
			return nil, fmt.Errorf("reading the reference's proofs: %w", err)
		}
		if ref.PowChallenge, ref.LastRoot, err = readPow(proofsDir); err != nil {
			return nil, fmt.Errorf("reading the reference's PoW challenge: %w", err)
		}
	}

	ents, err = os.ReadDir(filepath.Join(dataDir, "rounds"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listing round directories: %w", err)
	}
	for _, e := range ents {
		n, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		st, err := prover.ReadState(filepath.Join(dataDir, "rounds", e.Name()))
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			ref.Checkpoints = append(ref.Checkpoints, Checkpoint{Round: n, Err: err})
		case st.Execution != nil:
			x := st.Execution
			ref.Checkpoints = append(ref.Checkpoints, Checkpoint{Round: n, Statement: x.Statement, Leaves: x.NumLeaves, Finished: x.NIP != nil})
		}
	}
	slices.SortFunc(ref.Checkpoints, func(a, b Checkpoint) int { return cmpU64(a.Round, b.Round) })
	return ref, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// openReadOnly opens a reference LevelDB without writing to it: no compaction, no new
// journal or manifest, no log file.
func openReadOnly(path string) (*leveldb.DB, error) {
	db, err := leveldb.OpenFile(path, &opt.Options{ReadOnly: true, ErrorIfMissing: true})
	if err != nil {
		if isLockErr(err) {
			return nil, fmt.Errorf("%s: %w: %v", path, ErrLocked, err)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return db, nil
}

// eachRecord opens the database at path read-only and calls fn with every record in key
// order; key and value are valid only during the call.
func eachRecord(path string, fn func(key, value []byte) error) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	it := db.NewIterator(nil, nil)
	defer it.Release()
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("iterating %s: %w", path, err)
	}
	return nil
}

// readRound lists a round database's registrations in key (node ID) order.
func readRound(path string) ([]registration.Member, error) {
	var members []registration.Member
	err := eachRecord(path, func(k, v []byte) error {
		members = append(members, registration.Member{NodeID: slices.Clone(k), Challenge: slices.Clone(v)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return members, nil
}

// readProofs decodes every round's proof in the proofs database (the keys that are
// round IDs; pow_challenge and pow_challenge_previous are not proofs).
func readProofs(path string, have func(uint64) bool) ([]Proof, error) {
	var proofs []Proof
	err := eachRecord(path, func(k, v []byte) error {
		n, err := strconv.ParseUint(string(k), 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != string(k) || (have != nil && have(n)) {
			return nil
		}
		d, err := proofcodec.DecodeProofData(v)
		if err != nil {
			return fmt.Errorf("proof of round %d: %w", n, err)
		}
		proofs = append(proofs, proofOf(n, d))
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(proofs, func(a, b Proof) int { return cmpU64(a.Round, b.Round) })
	return proofs, nil
}

// readPow returns the proofs database's pow_challenge and the root of its newest proof.
func readPow(path string) (challenge, lastRoot []byte, err error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	challenge, err = db.Get([]byte("pow_challenge"), nil)
	if err != nil && !errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil, err
	}
	it := db.NewIterator(nil, nil)
	defer it.Release()
	var last uint64
	var lastVal []byte
	found := false
	for it.Next() {
		n, err := strconv.ParseUint(string(it.Key()), 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != string(it.Key()) || (found && n < last) {
			continue
		}
		last, lastVal, found = n, slices.Clone(it.Value()), true
	}
	if err := it.Error(); err != nil {
		return nil, nil, err
	}
	if found {
		// A record whose root does not decode gives no root (readProofs reports a record
		// it imports that does not decode).
		lastRoot, _ = proofcodec.ProofDataRoot(lastVal)
	}
	return challenge, lastRoot, nil
}

// proofOf is the proof of round n in the reference's record d. The record's RoundID
// repeats the database key, which is what counts.
func proofOf(n uint64, d *proofcodec.ProofData) Proof {
	return Proof{StoredProof: registration.StoredProof{Round: n, Proof: d.Proof, Members: d.Members, Leaves: d.Leaves}, ServicePubkey: d.ServicePubkey}
}

// isLockErr reports the failure to take the database's file lock: another process (the
// reference poet) holds it.
func isLockErr(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
