package compat

// Crash-recovery compatibility: a round interrupted by one implementation is resumed by
// the other from the same round directory (layercache_<h>.bin files and state.bin, spec
// §6.4 and §6.8), and the proof must be exactly the one of an uninterrupted round.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spacemeshos/merkle-tree/cache"
	"github.com/spacemeshos/poet/hash"
	"github.com/spacemeshos/poet/logging"
	refprover "github.com/spacemeshos/poet/prover"
	"github.com/spacemeshos/poet/service"
	"github.com/spacemeshos/poet/shared"
	"go.uber.org/zap"

	"github.com/poet-operator/poet-operator/poet/posw"
	ourprover "github.com/poet-operator/poet-operator/poet/prover"
)

// resumeStatement is the statement of every round in this file (a 32-byte membership
// root, as in production).
var resumeStatement = []byte("resume-compat-statement-32-bytes")

// resumeFileBuf is the reference's default --tree-file-buffer; both sides use it.
const resumeFileBuf = 4096

// refQuietCtx silences the reference's logger.
func refQuietCtx(ctx context.Context) context.Context {
	return logging.NewContext(ctx, zap.NewNop())
}

func refCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "leaves_total"})
}

func toProof(mp *shared.MerkleProof) *posw.Proof {
	if mp == nil {
		return nil
	}
	return &posw.Proof{Root: mp.Root, ProvenLeaves: mp.ProvenLeaves, ProofNodes: mp.ProofNodes}
}

// refPersist mirrors the persist callback of the reference service
// (service/round.go persistExecution at v0.10.12): GetReader flushes the layer files'
// buffers (and validates the cache), then state.bin gets the new NumLeaves. The state
// is written with our WriteState, which produces the reference's roundState layout.
func refPersist(dir string, stmt []byte, started time.Time, saved *[]uint64) func(context.Context, *cache.Writer, uint64) error {
	return func(_ context.Context, treeCache *cache.Writer, nextLeafID uint64) error {
		if _, err := treeCache.GetReader(); err != nil {
			return err
		}
		*saved = append(*saved, nextLeafID)
		return ourprover.WriteState(dir, refRoundState(stmt, started, nextLeafID))
	}
}

// refRoundState is what the reference service keeps in a round's state.bin while the
// round executes.
func refRoundState(stmt []byte, started time.Time, leaves uint64) *ourprover.State {
	return &ourprover.State{
		ExecutionStarted: started,
		Execution: &ourprover.Execution{
			SecurityParam: shared.T,
			Statement:     stmt,
			NumLeaves:     leaves,
		},
	}
}

// readCheckpoint reads state.bin and returns its leaf count; it must hold no proof.
func readCheckpoint(t testing.TB, dir string, stmt []byte) uint64 {
	t.Helper()
	st, err := ourprover.ReadState(dir)
	if err != nil {
		t.Fatalf("reading state.bin: %v", err)
	}
	x := st.Execution
	switch {
	case x == nil:
		t.Fatalf("state.bin has no execution")
	case x.NIP != nil:
		t.Fatalf("state.bin of an interrupted round holds a proof")
	case !bytes.Equal(x.Statement, stmt):
		t.Fatalf("state.bin statement %x, want %x", x.Statement, stmt)
	case x.SecurityParam != shared.T:
		t.Fatalf("state.bin security parameter %d, want %d", x.SecurityParam, shared.T)
	}
	return x.NumLeaves
}

// layerFiles returns the sizes of the layercache_<h>.bin files in dir, by height.
func layerFiles(t testing.TB, dir string) map[uint]int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint]int64{}
	for _, e := range ents {
		var h uint
		if _, err := fmt.Sscanf(e.Name(), "layercache_%d.bin", &h); err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[h] = fi.Size()
	}
	return out
}

func describeLayerFiles(files map[uint]int64) string {
	hs := make([]uint, 0, len(files))
	for h := range files {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, " layercache_%d.bin=%d nodes", h, files[h]/posw.NodeSize)
	}
	return b.String()
}

// resumeOurs runs our prover in dir, where the reference left a checkpoint of from
// leaves, up to to leaves, and fails unless it resumed from there and stopped there.
func resumeOurs(t *testing.T, dir string, stmt []byte, disk uint, from, to uint64) *ourprover.Result {
	t.Helper()
	progress := &ourprover.Progress{}
	res, err := ourprover.Run(context.Background(), ourprover.Config{
		Dir: dir, Statement: stmt, Leaves: to, DiskLayers: disk,
		TreeFileBuffer: resumeFileBuf, Progress: progress,
	})
	if err != nil {
		t.Fatalf("our prover cannot resume the reference's checkpoint of %d leaves (%s): %v",
			from, describeLayerFiles(layerFiles(t, dir)), err)
	}
	if progress.ResumedFrom() != from || res.Leaves != to {
		t.Fatalf("our prover resumed from %d and stopped at %d, want %d and %d", progress.ResumedFrom(), res.Leaves, from, to)
	}
	return res
}

// checkProof asserts that p is the proof of an uninterrupted round of n leaves and that
// the reference verifier accepts it.
func checkProof(t testing.TB, who string, stmt []byte, p *posw.Proof, n uint64) {
	t.Helper()
	if p == nil {
		t.Fatalf("%s returned no proof (N=%d)", who, n)
	}
	if d := diffProofs(mustProve(t, stmt, n), p); d != "" {
		t.Fatalf("%s: the resumed round's proof (N=%d) differs from posw.Prove: %s", who, n, d)
	}
	if _, err := refValidate(stmt, p, n); err != nil {
		t.Fatalf("%s: the reference verifier rejects the resumed round's proof (N=%d): %v", who, n, err)
	}
}

// ---------------------------------------------------------------------------------
// Driving our prover.

// ourInterrupted runs our prover in dir, cancels it once it has at least after leaves,
// and returns the leaf count of the checkpoint it leaves in state.bin.
func ourInterrupted(t testing.TB, dir string, stmt []byte, disk uint, after uint64) uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &ourprover.Progress{}
	go func() {
		for progress.Leaves() < after && ctx.Err() == nil {
			runtime.Gosched()
		}
		cancel()
	}()
	res, err := ourprover.Run(ctx, ourprover.Config{
		Dir:            dir,
		Statement:      stmt,
		End:            time.Now().Add(time.Minute),
		DiskLayers:     disk,
		TreeFileBuffer: resumeFileBuf,
		Progress:       progress,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("our prover, cancelled: got (%v, %v), want an error wrapping context.Canceled", res, err)
	}
	k := readCheckpoint(t, dir, stmt)
	if k < after || k != progress.Leaves() {
		t.Fatalf("our checkpoint holds %d leaves; the prover had %d and was cancelled at >= %d", k, progress.Leaves(), after)
	}
	return k
}

// ourExact runs our prover to exactly n >= posw.T leaves and then takes the proof out of
// state.bin: the directory is then exactly as the round's last checkpoint (taken at n
// leaves, before the proof) left it.
// rewind turns our checkpoint in dir into the one an interruption after k leaves
// writes: state.bin at k leaves, each layer file cut to its k>>h nodes, and no file for
// a layer without a node (a layer's file is created with its first node).
func rewind(t testing.TB, dir string, disk uint, k uint64) uint64 {
	t.Helper()
	st, err := ourprover.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Execution.NumLeaves, st.Execution.NIP = k, nil
	if err := ourprover.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	for h := range disk {
		path := filepath.Join(dir, fmt.Sprintf("layercache_%d.bin", h))
		if k>>h == 0 {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Truncate(path, int64(k>>h)*posw.NodeSize); err != nil {
			t.Fatal(err)
		}
	}
	return readCheckpoint(t, dir, st.Execution.Statement)
}

func ourExact(t testing.TB, dir string, stmt []byte, disk uint, n uint64) uint64 {
	t.Helper()
	res, err := ourprover.Run(context.Background(), ourprover.Config{
		Dir:            dir,
		Statement:      stmt,
		Leaves:         n,
		DiskLayers:     disk,
		TreeFileBuffer: resumeFileBuf,
	})
	if err != nil {
		t.Fatalf("our prover (%d leaves): %v", n, err)
	}
	if res.Leaves != n {
		t.Fatalf("our prover stopped at %d leaves, want %d", res.Leaves, n)
	}
	st, err := ourprover.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Execution == nil || st.Execution.NIP == nil || st.Execution.NumLeaves != n {
		t.Fatalf("state.bin of a finished round: %+v", st.Execution)
	}
	st.Execution.NIP = nil
	if err := ourprover.WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	return n
}

// ---------------------------------------------------------------------------------
// Driving the reference prover.

// refRecover resumes the round in dir with the reference's recovery entry, as
// service/round.go RecoverExecution does (nextLeafID = NumLeaves of state.bin), until
// deadline. It returns N, the proof, and the leaf counts the reference persisted.
func refRecover(t testing.TB, dir string, stmt []byte, disk uint, k uint64, deadline time.Time) (uint64, *posw.Proof, []uint64, error) {
	t.Helper()
	st, err := ourprover.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	var saved []uint64
	n, mp, err := refprover.GenerateProofRecovery(
		refQuietCtx(context.Background()),
		refCounter(),
		// MinMemoryLayer is ignored by the recovery entry (it keeps every existing layer
		// file and adds none); the service passes none either.
		refprover.TreeConfig{MinMemoryLayer: disk, Datadir: dir, FileWriterBufSize: resumeFileBuf},
		hash.GenLabelHashFunc(stmt),
		hash.GenMerkleHashFunc(stmt),
		deadline,
		shared.T,
		k,
		refPersist(dir, stmt, st.ExecutionStarted, &saved),
	)
	return n, toProof(mp), saved, err
}

// refInterrupted runs the reference's GenerateProof with persistence in dir (with the
// service's state.bin at round start) and cancels it: after exactly stopAt labels when
// stopAt > 0 (the cancel happens inside the label hash, and the reference checks the
// context right after adding that leaf), else after the duration after. It returns the
// leaf count the reference persisted on cancel.
func refInterrupted(t testing.TB, dir string, stmt []byte, disk uint, stopAt uint64, after time.Duration) uint64 {
	t.Helper()
	started := time.Now().UTC()
	if err := ourprover.WriteState(dir, refRoundState(stmt, started, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(refQuietCtx(context.Background()))
	defer cancel()
	labelHash := hash.GenLabelHashFunc(stmt)
	if stopAt > 0 {
		var labels uint64
		inner := labelHash
		labelHash = func(b []byte) []byte {
			labels++
			if labels == stopAt {
				cancel()
			}
			return inner(b)
		}
	} else {
		defer time.AfterFunc(after, cancel).Stop()
	}
	var saved []uint64
	n, mp, err := refprover.GenerateProof(
		ctx,
		refCounter(),
		refprover.TreeConfig{MinMemoryLayer: disk, Datadir: dir, FileWriterBufSize: resumeFileBuf},
		labelHash,
		hash.GenMerkleHashFunc(stmt),
		time.Now().Add(time.Minute),
		shared.T,
		refPersist(dir, stmt, started, &saved),
	)
	if !errors.Is(err, context.Canceled) || mp != nil {
		t.Fatalf("reference GenerateProof, cancelled: got (%d, %v, %v), want an error wrapping context.Canceled", n, mp, err)
	}
	if len(saved) != 1 || saved[0] != n {
		t.Fatalf("reference persisted %v, returned %d", saved, n)
	}
	if stopAt > 0 && n != stopAt {
		t.Fatalf("reference stopped at %d leaves, want %d", n, stopAt)
	}
	if k := readCheckpoint(t, dir, stmt); k != n {
		t.Fatalf("state.bin holds %d leaves, the reference persisted %d", k, n)
	}
	return n
}

// ---------------------------------------------------------------------------------
// Tests.

// TestReferenceResumesOurRound interrupts our prover, resumes the round with the
// reference's GenerateProofRecovery, and checks its proof; then resumes the reference's
// checkpoint with ours again.
func TestReferenceResumesOurRound(t *testing.T) {
	stmt := resumeStatement
	type tc struct {
		disk uint
		// exact: run to exactly k leaves (k >= T) and strip the proof; otherwise cancel
		// once the prover has k leaves (it stops a few leaves later).
		exact bool
		k     uint64
	}
	var cases []tc
	for _, disk := range []uint{1, 3} {
		cases = append(cases,
			tc{disk, false, 40}, tc{disk, false, 300}, tc{disk, false, 12000},
			tc{disk, true, posw.T}, tc{disk, true, 4096}, tc{disk, true, 5000}, tc{disk, true, 16383})
	}
	cases = append(cases,
		tc{1, false, 1}, tc{3, false, 4},
		// A checkpoint of fewer than 2^(disk-1) leaves: the top layer file has no node
		// yet (mainnet keeps 11 layers on disk: an interruption in the first 1024
		// leaves). cancel>=1 stops far below 128 leaves; exact=150 is just above.
		tc{8, false, 1}, tc{8, true, posw.T})
	for _, c := range cases {
		name := fmt.Sprintf("disk=%d/", c.disk)
		if c.exact {
			name += fmt.Sprintf("exact=%d", c.k)
		} else {
			name += fmt.Sprintf("cancel>=%d", c.k)
		}
		t.Run(name, func(t *testing.T) {
			disk, dir := c.disk, t.TempDir()
			var k uint64
			if c.exact {
				k = ourExact(t, dir, stmt, disk, c.k)
			} else {
				k = ourInterrupted(t, dir, stmt, disk, c.k)
			}
			if c.disk == 8 && !c.exact && k >= 1<<(disk-1) {
				// The prover ran on past the cancel (a scheduling delay on a busy machine):
				// take the checkpoint back to what an interruption after c.k leaves
				// leaves behind, so the case is tested whatever the machine's speed.
				t.Logf("the prover ran on to %d leaves before the cancel took effect; rewinding its checkpoint to %d", k, c.k)
				k = rewind(t, dir, disk, c.k)
			}
			files := layerFiles(t, dir)
			t.Logf("our checkpoint: %d leaves,%s", k, describeLayerFiles(files))
			for h := range disk {
				if sz, ok := files[h]; ok && sz != int64(k>>h)*posw.NodeSize {
					t.Fatalf("our layercache_%d.bin has %d bytes at a checkpoint of %d leaves, want %d",
						h, sz, k, int64(k>>h)*posw.NodeSize)
				}
			}

			n, proof, saved, err := refRecover(t, dir, stmt, disk, k, time.Now().Add(3*time.Millisecond))
			if err != nil {
				failRefRecovery(t, k, disk, files, err)
			}
			if n <= k || n < posw.T {
				t.Fatalf("the reference resumed from %d and stopped at N=%d", k, n)
			}
			if len(saved) != 1 || saved[0] != n {
				t.Fatalf("the reference persisted %v, want [%d]", saved, n)
			}
			checkProof(t, "reference resuming our round", stmt, proof, n)

			// And back: the reference's final checkpoint (N leaves, state.bin written by
			// its persist step, layer files appended by it) resumed by ours.
			if got := readCheckpoint(t, dir, stmt); got != n {
				t.Fatalf("state.bin holds %d leaves after the reference's final persist at %d", got, n)
			}
			m := n + 123
			res := resumeOurs(t, dir, stmt, disk, n, m)
			checkProof(t, "ours resuming the reference's recovery", stmt, res.Proof, m)
		})
	}

	// The reference service's own code path: NewRound loads our state.bin with its XDR
	// decoder, RecoverExecution resumes and saves the finished round's state.bin.
	t.Run("service", func(t *testing.T) {
		const disk, epoch = 3, 7
		roundsDir := t.TempDir()
		dir := filepath.Join(roundsDir, fmt.Sprint(epoch))
		k := ourInterrupted(t, dir, stmt, disk, 2000)
		ours := mustState(t, dir)
		r, err := service.NewRound(roundsDir, epoch)
		if err != nil {
			t.Fatalf("reference service.NewRound cannot load our state.bin (%d leaves): %v", k, err)
		}
		if r.IsFinished() {
			t.Fatalf("reference service.NewRound: our interrupted round looks finished")
		}
		err = r.RecoverExecution(refQuietCtx(context.Background()), time.Now().Add(3*time.Millisecond), resumeFileBuf)
		if err != nil {
			failRefRecovery(t, k, disk, layerFiles(t, dir), err)
		}
		st := mustState(t, dir)
		x := st.Execution
		if x == nil || x.NIP == nil || x.NumLeaves <= k || !bytes.Equal(x.Statement, stmt) || x.SecurityParam != posw.T {
			t.Fatalf("the reference service's state.bin after recovery: %+v", x)
		}
		if !st.ExecutionStarted.Equal(ours.ExecutionStarted) {
			t.Fatalf("the reference service's state.bin: execution start %v, ours was %v", st.ExecutionStarted, ours.ExecutionStarted)
		}
		checkProof(t, "reference service resuming our round", stmt, x.NIP, x.NumLeaves)
		// Our prover, handed the finished round, returns the reference's proof.
		res, err := ourprover.Run(context.Background(), ourprover.Config{Dir: dir, Statement: stmt, DiskLayers: disk})
		if err != nil || res.Leaves != x.NumLeaves || diffProofs(x.NIP, res.Proof) != "" {
			t.Fatalf("our prover on the reference's finished round: %v, %+v", err, res)
		}
	})
}

// failRefRecovery fails the test for an error of the reference's recovery, explaining
// the known incompatibility when it is the cause.
func failRefRecovery(t testing.TB, k uint64, disk uint, files map[uint]int64, err error) {
	t.Helper()
	var empty []string
	for h := range disk {
		if sz, ok := files[h]; ok && sz == 0 {
			empty = append(empty, fmt.Sprintf("layercache_%d.bin", h))
		}
	}
	if len(empty) > 0 {
		t.Fatalf("INCOMPATIBLE: the reference cannot recover our checkpoint of %d leaves (DiskLayers=%d): %v.\n"+
			"Our prover leaves empty layer files %v: poet/prover/layers.go openLayers creates all %d layer files "+
			"up front (O_CREATE), while the reference creates layercache_<h>.bin only when the first node of "+
			"height h is appended (merkle-tree ensureNextLayerExists), so at a checkpoint it never has an empty "+
			"one. The reference's recovery (prover.makeRecoveryProofTree) streams its highest layer file into a "+
			"small tree, which must not be empty. Expected: our prover creates layer file h only when node (h,0) "+
			"is appended, i.e. at a checkpoint of N leaves no layer file above height floor(log2 N).",
			k, disk, err, empty, disk)
	}
	t.Fatalf("the reference cannot recover our checkpoint of %d leaves (DiskLayers=%d,%s): %v",
		k, disk, describeLayerFiles(files), err)
}

// TestWeResumeReferenceRound interrupts the reference's GenerateProof, with persistence
// as its service does it, and resumes the round with our prover.
func TestWeResumeReferenceRound(t *testing.T) {
	stmt := resumeStatement
	type tc struct {
		stopAt uint64        // exact leaf count at which the reference is cancelled
		after  time.Duration // else: cancel after this long
	}
	cases := []tc{
		{stopAt: 1}, {stopAt: 2}, {stopAt: 3}, {stopAt: 4}, {stopAt: 5}, {stopAt: 149},
		{stopAt: 150}, {stopAt: 1024}, {stopAt: 3697}, {after: 30 * time.Millisecond},
	}
	for _, disk := range []uint{1, 3} {
		for _, c := range cases {
			name := fmt.Sprintf("disk=%d/", disk)
			if c.stopAt > 0 {
				name += fmt.Sprintf("stop=%d", c.stopAt)
			} else {
				name += fmt.Sprintf("after=%v", c.after)
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				k := refInterrupted(t, dir, stmt, disk, c.stopAt, c.after)
				files := layerFiles(t, dir)
				started := mustState(t, dir).ExecutionStarted
				t.Logf("reference checkpoint: %d leaves,%s", k, describeLayerFiles(files))

				// The reference's layer files at k leaves are what ours would hold.
				if k >= posw.T {
					own := t.TempDir()
					ourExact(t, own, stmt, disk, k)
					ownFiles := layerFiles(t, own)
					for h := range disk {
						ref, err1 := os.ReadFile(filepath.Join(dir, fmt.Sprintf("layercache_%d.bin", h)))
						our, err2 := os.ReadFile(filepath.Join(own, fmt.Sprintf("layercache_%d.bin", h)))
						if err1 != nil || err2 != nil {
							t.Fatalf("layer %d: reference %v, ours %v (reference:%s; ours:%s)",
								h, err1, err2, describeLayerFiles(files), describeLayerFiles(ownFiles))
						}
						if !bytes.Equal(ref, our) {
							t.Fatalf("layercache_%d.bin at %d leaves differs: reference %d bytes, ours %d bytes", h, k, len(ref), len(our))
						}
					}
				}

				m := max(k+777, posw.T)
				res := resumeOurs(t, dir, stmt, disk, k, m)
				checkProof(t, "ours resuming the reference's round", stmt, res.Proof, m)
				st := mustState(t, dir)
				if x := st.Execution; x == nil || x.NumLeaves != m || x.NIP == nil || diffProofs(res.Proof, x.NIP) != "" {
					t.Fatalf("state.bin after the resumed round does not hold its %d leaves and proof: %+v", m, x)
				}
				if !st.ExecutionStarted.Equal(started) {
					t.Fatalf("state.bin execution start %v, the reference's was %v", st.ExecutionStarted, started)
				}
			})
		}
	}
}

// TestWeResumeReferenceServiceRound runs a round through the reference service's own
// code path (service.NewRound and round.Execute: its XDR state.bin and its persist
// callback), interrupts it, and resumes it with our prover; the reference service then
// loads the finished state.bin our prover wrote.
func TestWeResumeReferenceServiceRound(t *testing.T) {
	stmt := resumeStatement
	const disk, epoch = 3, 9
	roundsDir := t.TempDir()
	dir := filepath.Join(roundsDir, fmt.Sprint(epoch))
	r, err := service.NewRound(roundsDir, epoch, service.WithMembershipRoot(stmt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(refQuietCtx(context.Background()))
	defer cancel()
	defer time.AfterFunc(30*time.Millisecond, cancel).Stop()
	before := time.Now()
	err = r.Execute(ctx, time.Now().Add(time.Minute), disk, resumeFileBuf)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("reference round.Execute, cancelled: %v, want an error wrapping context.Canceled", err)
	}
	st, err := ourprover.ReadState(dir)
	if err != nil {
		t.Fatalf("our ReadState cannot read the reference service's state.bin: %v", err)
	}
	k := readCheckpoint(t, dir, stmt)
	if k == 0 || st.ExecutionStarted.Before(before.Add(-time.Second)) || st.ExecutionStarted.After(time.Now()) {
		t.Fatalf("the reference service's state.bin: started %v, %d leaves", st.ExecutionStarted, k)
	}
	t.Logf("reference service checkpoint: %d leaves,%s", k, describeLayerFiles(layerFiles(t, dir)))

	m := k + 500
	progress := &ourprover.Progress{}
	res, err := ourprover.Run(context.Background(), ourprover.Config{
		Dir: dir, Statement: stmt, Leaves: m, DiskLayers: disk, TreeFileBuffer: resumeFileBuf, Progress: progress,
	})
	if err != nil {
		t.Fatalf("our prover cannot resume the reference service's round of %d leaves: %v", k, err)
	}
	if progress.ResumedFrom() != k || res.Leaves != m {
		t.Fatalf("our prover resumed from %d and stopped at %d, want %d and %d", progress.ResumedFrom(), res.Leaves, k, m)
	}
	checkProof(t, "ours resuming the reference service's round", stmt, res.Proof, m)
	if got := mustState(t, dir); !got.ExecutionStarted.Equal(st.ExecutionStarted) {
		t.Fatalf("our state.bin: execution start %v, the reference's was %v", got.ExecutionStarted, st.ExecutionStarted)
	}

	r, err = service.NewRound(roundsDir, epoch)
	if err != nil {
		t.Fatalf("reference service.NewRound cannot load our finished state.bin: %v", err)
	}
	if !r.IsFinished() {
		t.Fatalf("reference service.NewRound: our finished round does not look finished")
	}
}

func mustState(t testing.TB, dir string) *ourprover.State {
	t.Helper()
	st, err := ourprover.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
