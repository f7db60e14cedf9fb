package prover

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

var stmt = []byte("0123456789abcdef0123456789abcdef")

func config(dir string, leaves uint64, disk uint) Config {
	return Config{
		Dir:                dir,
		Statement:          stmt,
		End:                time.Now().Add(time.Hour),
		Leaves:             leaves,
		DiskLayers:         disk,
		TreeFileBuffer:     96,
		CheckpointInterval: time.Hour,
	}
}

func equalProofs(t *testing.T, got, want *posw.Proof) {
	t.Helper()
	same := bytes.Equal(got.Root, want.Root) && len(got.ProvenLeaves) == len(want.ProvenLeaves) && len(got.ProofNodes) == len(want.ProofNodes)
	for k := 0; same && k < len(got.ProvenLeaves); k++ {
		same = bytes.Equal(got.ProvenLeaves[k], want.ProvenLeaves[k])
	}
	for k := 0; same && k < len(got.ProofNodes); k++ {
		same = bytes.Equal(got.ProofNodes[k], want.ProofNodes[k])
	}
	if !same {
		t.Fatalf("proofs differ: root %x vs %x", got.Root, want.Root)
	}
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The on-disk prover, with any split between file and memory layers, yields the very
// proof the in-memory tree does.
func TestRunMatchesInMemoryProof(t *testing.T) {
	for _, tc := range []struct {
		leaves uint64
		disk   uint
	}{{150, 1}, {1000, 1}, {1000, 3}, {1025, 11}, {4096, 2}, {3001, 64}} {
		dir := t.TempDir()
		cfg := config(dir, tc.leaves, tc.disk)
		cfg.TIDFile = filepath.Join(dir, "round.tid")
		res := run(t, cfg)
		want, err := posw.Prove(stmt, tc.leaves)
		if err != nil {
			t.Fatal(err)
		}
		if res.Leaves != tc.leaves {
			t.Fatalf("%d leaves, want %d", res.Leaves, tc.leaves)
		}
		equalProofs(t, res.Proof, want)
		for h := uint(0); h < min(tc.disk, 64); h++ {
			fi, err := os.Stat(layerFile(dir, h))
			if tc.leaves>>h == 0 && err != nil {
				continue
			}
			if err != nil || fi.Size() != int64(tc.leaves>>h)*32 {
				t.Fatalf("layer %d: %v, size %d, want %d", h, err, fi.Size(), (tc.leaves>>h)*32)
			}
		}
		tid, err := os.ReadFile(cfg.TIDFile)
		if n, perr := strconv.Atoi(string(tid)); err != nil || perr != nil || n <= 0 {
			t.Fatalf("round.tid %q: %v %v", tid, err, perr)
		}
		// A finished round is served from its state file.
		again := run(t, cfg)
		equalProofs(t, again.Proof, res.Proof)
	}
}

func TestRoundEndingEarlyStillHasTLeaves(t *testing.T) {
	cfg := config(t.TempDir(), 0, 1)
	cfg.End = time.Now().Add(-time.Minute)
	res := run(t, cfg)
	if res.Leaves != posw.T {
		t.Fatalf("%d leaves, want %d", res.Leaves, posw.T)
	}
	if err := posw.Verify(stmt, res.Proof, res.Leaves); err != nil {
		t.Fatal(err)
	}
}

func TestRoundRunsUntilEnd(t *testing.T) {
	cfg := config(t.TempDir(), 0, 2)
	cfg.End = time.Now().Add(300 * time.Millisecond)
	res := run(t, cfg)
	if time.Now().Before(cfg.End) {
		t.Fatal("returned before the round end")
	}
	if err := posw.Verify(stmt, res.Proof, res.Leaves); err != nil {
		t.Fatal(err)
	}
}

// crash leaves dir as a process killed after a checkpoint at k leaves would: state.bin
// says k, the layer files hold anything from k's nodes up to everything written later,
// possibly ending in a torn node.
func crash(t *testing.T, dir string, k uint64, rng *rand.Rand) {
	t.Helper()
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Execution.NumLeaves = k
	st.Execution.NIP = nil
	if err := WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	hs, _ := layerHeights(dir)
	for _, h := range hs {
		fi, _ := os.Stat(layerFile(dir, h))
		need := int64(k>>h) * 32
		if err := os.Truncate(layerFile(dir, h), need+rng.Int64N(fi.Size()-need+1)); err != nil {
			t.Fatal(err)
		}
	}
}

// A round resumed from a checkpoint at a random leaf, after a crash that left more work
// in the files, gives the proof of an uninterrupted round.
func TestResumeAfterCrashEqualsUninterrupted(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	want, err := posw.Prove(stmt, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, disk := range []uint{1, 2, 5} {
		for range 3 {
			dir := t.TempDir()
			k := 1 + rng.Uint64N(n-1)
			run(t, config(dir, n, disk))
			crash(t, dir, k, rng)
			progress := &Progress{}
			cfg := config(dir, n, disk)
			cfg.Progress = progress
			res := run(t, cfg)
			if progress.ResumedFrom() != k {
				t.Fatalf("resumed from %d, want %d", progress.ResumedFrom(), k)
			}
			equalProofs(t, res.Proof, want)
		}
	}
}

// Cancelling checkpoints at the current leaf; the next run continues from there.
func TestCancelCheckpointsAndResumes(t *testing.T) {
	const n = 20000
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	progress := &Progress{}
	cfg := config(dir, n, 2)
	cfg.Progress = progress
	go func() {
		for progress.Leaves() < 2000 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v", err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Execution.NumLeaves < 2000 || st.Execution.NumLeaves >= n {
		t.Fatalf("checkpoint at %d leaves", st.Execution.NumLeaves)
	}
	cfg.Progress = &Progress{}
	res := run(t, cfg)
	if cfg.Progress.ResumedFrom() != st.Execution.NumLeaves {
		t.Fatalf("resumed from %d, checkpoint %d", cfg.Progress.ResumedFrom(), st.Execution.NumLeaves)
	}
	want, _ := posw.Prove(stmt, n)
	equalProofs(t, res.Proof, want)
}

// Checkpoints come by time, while the prover runs.
func TestCheckpointsByTime(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir, 0, 1)
	cfg.End = time.Now().Add(400 * time.Millisecond)
	cfg.CheckpointInterval = 50 * time.Millisecond
	cfg.Progress = &Progress{}
	done := make(chan error, 1)
	go func() { _, err := Run(context.Background(), cfg); done <- err }()
	var seen uint64
	for seen == 0 {
		select {
		case err := <-done:
			t.Fatalf("round ended (%v) before any timed checkpoint was seen", err)
		case <-time.After(5 * time.Millisecond):
		}
		if st, err := ReadState(dir); err == nil && st.Execution != nil && st.Execution.NIP == nil {
			seen = st.Execution.NumLeaves
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, at := cfg.Progress.Checkpoint(); n == 0 || at.IsZero() {
		t.Fatalf("progress reports no checkpoint: %d %v", n, at)
	}
}

// The reference cannot restart from a checkpoint of 0 leaves with a non-empty layer 0
// ("base layer cannot be empty"); we start the round over.
func TestResumeFromZeroLeavesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	run(t, config(dir, 500, 1))
	crash(t, dir, 0, rand.New(rand.NewPCG(5, 6)))
	if fi, _ := os.Stat(layerFile(dir, 0)); fi.Size() == 0 {
		if err := os.WriteFile(layerFile(dir, 0), make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res := run(t, config(dir, 500, 1))
	want, _ := posw.Prove(stmt, 500)
	equalProofs(t, res.Proof, want)
}

func TestResumeRejectsDamage(t *testing.T) {
	prepare := func(t *testing.T) string {
		dir := t.TempDir()
		run(t, config(dir, 1000, 3))
		st, _ := ReadState(dir)
		st.Execution.NumLeaves, st.Execution.NIP = 777, nil
		if err := WriteState(dir, st); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("short layer", func(t *testing.T) {
		dir := prepare(t)
		os.Truncate(layerFile(dir, 1), 100)
		if _, err := Run(context.Background(), config(dir, 1000, 3)); !errors.Is(err, ErrCorruptLayers) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing layer 0", func(t *testing.T) {
		dir := prepare(t)
		os.Remove(layerFile(dir, 0))
		if _, err := Run(context.Background(), config(dir, 1000, 3)); !errors.Is(err, ErrCorruptLayers) {
			t.Fatalf("got %v", err)
		}
	})
	for _, h := range []uint{0, 1, 2} {
		t.Run("flipped tail of layer "+strconv.Itoa(int(h)), func(t *testing.T) {
			dir := prepare(t)
			f, _ := os.OpenFile(layerFile(dir, h), os.O_RDWR, 0)
			b := make([]byte, 1)
			off := int64(777>>h-1)*32 + 5
			f.ReadAt(b, off)
			b[0] ^= 1
			f.WriteAt(b, off)
			f.Close()
			if _, err := Run(context.Background(), config(dir, 1000, 3)); !errors.Is(err, ErrCorruptLayers) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("other statement", func(t *testing.T) {
		dir := prepare(t)
		cfg := config(dir, 1000, 3)
		cfg.Statement = []byte("another")
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrStatementMismatch) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("garbage state", func(t *testing.T) {
		dir := prepare(t)
		os.WriteFile(filepath.Join(dir, StateFile), []byte{0, 0, 0, 9, 1}, 0o600)
		if _, err := Run(context.Background(), config(dir, 1000, 3)); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDiskLayers(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		lps    uint64
		memory uint
		want   uint
	}{
		{20 * time.Second, 78000, 26, 1}, // reference defaults: only layer 0 on disk
		{324 * time.Hour, 78000, 26, 11}, // mainnet: layers 0-10 on disk
		{324 * time.Hour, 78000, 40, 1},  // everything fits
		{0, 78000, 26, 1},                //
		{time.Hour, 65536, 10, 18},       // 3600·65536 ≈ 2^27.8: 28 layers
	} {
		if got := DiskLayers(tc.d, tc.lps, tc.memory); got != tc.want {
			t.Errorf("DiskLayers(%s, %d, %d) = %d, want %d", tc.d, tc.lps, tc.memory, got, tc.want)
		}
	}
}

// The 100-byte state.bin the reference server wrote at the start of a round.
func TestReferenceStateFile(t *testing.T) {
	ref, _ := hex.DecodeString("0000001e" + hex.EncodeToString([]byte("2026-11-23T19:49:28.130496597Z")) + "0000" +
		"00000001" + "00000096" + "00000000" + "00000020" + hex.EncodeToString(stmt) + "00000000" + "0000000000000000" + "00000000")
	if len(ref) != 100 {
		t.Fatalf("fixture is %d bytes", len(ref))
	}
	var s State
	if err := s.UnmarshalBinary(ref); err != nil {
		t.Fatal(err)
	}
	if s.Execution == nil || s.Execution.SecurityParam != 150 || !bytes.Equal(s.Execution.Statement, stmt) || s.Execution.NumLeaves != 0 || s.Execution.NIP != nil {
		t.Fatalf("decoded %+v", s.Execution)
	}
	if want := time.Date(2026, 11, 23, 19, 49, 28, 130496597, time.UTC); !s.ExecutionStarted.Equal(want) {
		t.Fatalf("started %v", s.ExecutionStarted)
	}
	out, _ := s.MarshalBinary()
	if !bytes.Equal(out, ref) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", out, ref)
	}
}

func FuzzStateDecode(f *testing.F) {
	s := State{ExecutionStarted: time.Unix(1, 2), Execution: &Execution{SecurityParam: 150, Statement: stmt, NumLeaves: 9,
		NIP: &posw.Proof{Root: stmt, ProvenLeaves: [][]byte{stmt}, ProofNodes: [][]byte{{1, 2, 3}}}}}
	b, _ := s.MarshalBinary()
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if s.UnmarshalBinary(b) != nil {
			return
		}
		out, _ := s.MarshalBinary()
		var again State
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
	})
}

// A round written with fewer file layers than this configuration wants (the reference
// with another --lps, say) is resumed by rebuilding the missing file layers from the
// top file; one interrupted before its upper layers had a node keeps them lazy.
func TestResumeWithMoreDiskLayers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 2000
	want, _ := posw.Prove(stmt, n)
	for _, k := range []uint64{2, 5, 1234} {
		dir := t.TempDir()
		run(t, config(dir, n, 1))
		crash(t, dir, k, rng)
		res := run(t, config(dir, n, 4))
		equalProofs(t, res.Proof, want)
		for h := uint(0); h < 4; h++ {
			fi, err := os.Stat(layerFile(dir, h))
			if err != nil || fi.Size() != int64(n>>h)*32 {
				t.Fatalf("k=%d layer %d: %v (want %d bytes)", k, h, err, (n>>h)*32)
			}
		}
	}
	// Interrupted at 3 leaves: no file above height 1 exists at the checkpoint.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config(dir, n, 8)
	cfg.Progress = &Progress{}
	go func() {
		for cfg.Progress.Leaves() < 3 {
			time.Sleep(100 * time.Microsecond)
		}
		cancel()
	}()
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	st, _ := ReadState(dir)
	hs, _ := layerHeights(dir)
	for _, h := range hs {
		if st.Execution.NumLeaves>>h == 0 {
			t.Fatalf("layer %d file exists at a checkpoint of %d leaves", h, st.Execution.NumLeaves)
		}
	}
}
