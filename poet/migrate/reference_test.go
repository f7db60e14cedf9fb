package migrate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/proofcodec"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// These tests write reference-layout databases with goleveldb to exercise the import
// rules; the known-answer fixtures made by the reference binary itself are in
// hack/compat/migrate_e2e_test.go.

// refProofRecord is the reference's proofData XDR record (reference-poet.md §6.8).
func refProofRecord(p *posw.Proof, members [][]byte, leaves uint64, pub []byte, round string) []byte {
	var w proofcodec.Writer
	proofcodec.AppendProofData(&w, &proofcodec.ProofData{Proof: *p, Members: members, Leaves: leaves, ServicePubkey: pub, RoundID: round})
	return w.Bytes()
}

func writeLevel(t *testing.T, path string, kv map[string][]byte) {
	t.Helper()
	db, err := leveldb.OpenFile(path, &opt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		if err := db.Put([]byte(k), v, &opt.WriteOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

type refRound struct {
	ids, challenges [][]byte
}

func newRefRound(n int, seed byte) refRound {
	var r refRound
	for i := range n {
		id := sha256.Sum256([]byte{seed, byte(i), 1})
		ch := sha256.Sum256([]byte{seed, byte(i), 2})
		r.ids, r.challenges = append(r.ids, id[:]), append(r.challenges, ch[:])
	}
	return r
}

func (r refRound) kv() map[string][]byte {
	out := map[string][]byte{}
	for i := range r.ids {
		out[string(r.ids[i])] = r.challenges[i]
	}
	return out
}

// sortedChallenges are the challenges in node-ID order (the reference's key order).
func (r refRound) sortedChallenges() [][]byte {
	idx := make([]int, len(r.ids))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(r.ids[a], r.ids[b]) })
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = r.challenges[j]
	}
	return out
}

func hashDir(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = sha256.Sum256(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func openStore(t *testing.T, dir string, s schedule.Schedule) *registration.Registry {
	t.Helper()
	reg, err := registration.Open(filepath.Join(dir, "registrations.db"), s, registration.Config{MaxRoundMembers: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestImportReference(t *testing.T) {
	poetdir := t.TempDir()
	dbDir, dataDir := filepath.Join(poetdir, "db"), filepath.Join(poetdir, "data")
	pub, _, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)

	r0, r1, r2 := newRefRound(5, 0), newRefRound(7, 1), newRefRound(3, 2)
	for n, r := range []refRound{r0, r1, r2} {
		writeLevel(t, filepath.Join(dbDir, "rounds", strconv.Itoa(n)), r.kv())
	}
	m0 := r0.sortedChallenges()
	p0, err := posw.Prove(registration.MembershipRoot(m0), 300)
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := posw.Prove(registration.MembershipRoot(m0), 300)
	bad.ProvenLeaves[9][1] ^= 1
	writeLevel(t, filepath.Join(dbDir, "proofs"), map[string][]byte{
		"0":             refProofRecord(p0, m0, 300, pub, "0"),
		"5":             refProofRecord(bad, m0, 300, pub, "5"),
		"6":             refProofRecord(p0, m0, 300, otherPub, "6"),
		"pow_challenge": bytes.Repeat([]byte{7}, 32),
	})
	before := hashDir(t, dbDir)

	// Round 1 already closed here with no members: the state ours left when it crash-
	// looped on the reference's checkpoint before this import existed.
	s := schedule.Schedule{Genesis: time.Now().Add(-30 * time.Second), EpochDuration: 20 * time.Second, PhaseShift: 8 * time.Second, CycleGap: 6 * time.Second}
	reg := openStore(t, dbDir, s)
	defer func() { _ = reg.Close() }()
	if _, n, err := reg.CloseRound(1); err != nil || n != 0 {
		t.Fatalf("closing round 1: %d %v", n, err)
	}

	ref, err := Read(dbDir, dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dry strings.Builder
	Describe(&dry, ref, pub)
	for _, want := range []string{"round 1: 7 registrations", "proof of round 0: 5 members, 300 leaves", "proof of round 5", "INVALID", "another service key"} {
		if !strings.Contains(dry.String(), want) {
			t.Errorf("dry run lacks %q:\n%s", want, dry.String())
		}
	}
	sum, err := Import(ref, reg, pub, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if sum.ProofsImported != 1 || sum.RoundsImported != 2 || sum.MembersAdded != 10 || len(sum.Skipped) != 2 {
		t.Fatalf("summary %+v", sum)
	}
	// The reference's challenges are accepted: its newest proof's root, then its seed.
	if pp := reg.PowParams(); !bytes.Equal(pp.Challenge, bad.Root) {
		t.Errorf("current PoW challenge %x, want the newest reference proof's root %x", pp.Challenge, bad.Root)
	}
	got, err := reg.Proof(0)
	if err != nil || got.Leaves != 300 || !bytes.Equal(got.Proof.Root, p0.Root) {
		t.Fatalf("proof 0: %+v %v", got, err)
	}
	for _, n := range []uint64{5, 6} {
		if _, err := reg.Proof(n); !errors.Is(err, registration.ErrProofNotFound) {
			t.Fatalf("proof %d imported: %v", n, err)
		}
	}
	// Round 1 takes the reference's statement although it had closed here empty.
	stmt, n, err := reg.CloseRound(1)
	if err != nil || n != 7 || !bytes.Equal(stmt, registration.MembershipRoot(r1.sortedChallenges())) {
		t.Fatalf("round 1 after import: %d members, %v", n, err)
	}
	if n := reg.RoundMembers(2); n != 3 {
		t.Fatalf("round 2: %d members", n)
	}
	// Again: nothing new. The reference's files are unchanged.
	ref, err = Read(dbDir, dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	have := func(n uint64) bool { h, err := reg.HasProof(n); return err == nil && h }
	if r, err := Read(dbDir, dataDir, have); err != nil || len(r.Proofs) != 2 || len(r.Rounds) != 2 {
		t.Fatalf("reading what is not imported yet: %d proofs, %d rounds, %v", len(r.Proofs), len(r.Rounds), err)
	}
	sum, err = Import(ref, reg, pub, slog.New(slog.DiscardHandler))
	if err != nil || sum.ProofsImported != 0 || sum.RoundsImported != 0 || sum.MembersAdded != 0 {
		t.Fatalf("second import: %+v %v", sum, err)
	}
	after := hashDir(t, dbDir)
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}

// A reference still running holds its databases' lock: the import says so.
func TestReadLockedByReference(t *testing.T) {
	dbDir := t.TempDir()
	writeLevel(t, filepath.Join(dbDir, "rounds", "0"), newRefRound(2, 9).kv())
	db, err := leveldb.OpenFile(filepath.Join(dbDir, "rounds", "0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Read(dbDir, t.TempDir(), nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
}
