// Command poet_bench measures the PoSW prover: it runs a round of labels and tree like a
// live round (layer files on disk, checkpoints), builds and verifies the proof, and
// prints the rate as its last line, "leaves/s: N". It also writes and verifies proof
// files, resumes interrupted runs, and measures the bare SHA-256 kernel.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/poet-operator/poet-operator/poet/placement"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/prover"
)

// defaultStatement is the reference bench's statement, so runs compare like for like.
const defaultStatement = "1234567890abcdefghij"

type options struct {
	duration     time.Duration
	leaves       uint64
	statement    []byte
	datadir      string
	resume       bool
	proofOut     string
	verify       string
	kernel       bool
	lps          uint64
	memory       uint
	fileBuffer   int
	checkpoint   time.Duration
	stdout       io.Writer
	statementHex string
	cpu          int
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "poet_bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "poet_bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	o := &options{stdout: os.Stdout}
	fs := flag.NewFlagSet("poet_bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to generate labels (shorthand)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to generate labels")
	fs.Uint64Var(&o.leaves, "leaves", 0, "generate exactly this many leaves instead of running for a duration (at least 150)")
	fs.StringVar(&o.statementHex, "statement", hex.EncodeToString([]byte(defaultStatement)), "the statement, hex (default: the reference bench's)")
	fs.StringVar(&o.datadir, "datadir", "", "round directory for layer files and checkpoints (default: a temporary one, removed afterwards)")
	fs.BoolVar(&o.resume, "resume", false, "continue the interrupted run found in --datadir")
	fs.StringVar(&o.proofOut, "proof-out", "", "write the proof to this file as the JSON of GET /v1/proofs/{round}")
	fs.StringVar(&o.verify, "verify", "", "verify this proof file against --statement and exit")
	fs.BoolVar(&o.kernel, "kernel", false, "measure only the bare chained SHA-256 kernel for the duration")
	fs.Uint64Var(&o.lps, "lps", prover.DefaultLPS, "estimated leaves per second (chooses the layers kept on disk)")
	fs.UintVar(&o.memory, "memory", prover.DefaultMemoryLayers, "number of top tree layers kept in memory")
	fs.IntVar(&o.fileBuffer, "tree-file-buffer", prover.DefaultTreeFileBuffer, "write buffer per layer file, in bytes")
	fs.DurationVar(&o.checkpoint, "checkpoint-interval", prover.DefaultCheckpointInterval, "most work a crash can lose")
	fs.IntVar(&o.cpu, "cpu", -1, "run on this CPU alone with one P, as the service's prover process does (-1: no pinning)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	stmt, err := hex.DecodeString(o.statementHex)
	if err != nil {
		return nil, fmt.Errorf("--statement: %w", err)
	}
	o.statement = stmt
	switch {
	case o.duration <= 0:
		return nil, fmt.Errorf("--duration must be positive, got %s", o.duration)
	case o.leaves != 0 && o.leaves < posw.T:
		return nil, fmt.Errorf("--leaves must be at least %d (a proof opens %d leaves), got %d", posw.T, posw.T, o.leaves)
	case o.resume && o.datadir == "":
		return nil, errors.New("--resume needs --datadir")
	case o.checkpoint <= 0:
		return nil, fmt.Errorf("--checkpoint-interval must be positive, got %s", o.checkpoint)
	case o.cpu < -1:
		return nil, fmt.Errorf("--cpu must be a CPU number or -1, got %d", o.cpu)
	}
	return o, nil
}

func run(ctx context.Context, o *options) error {
	if o.verify != "" {
		return verifyFile(o)
	}
	plan, err := place(o)
	if err != nil {
		return err
	}
	if o.kernel {
		errc := make(chan error, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the pinned thread exits with the goroutine
			if err := plan.PinThread(); err != nil {
				errc <- err
				return
			}
			errc <- kernel(o)
		}()
		return <-errc
	}
	return bench(ctx, o, plan.PinThread)
}

// place applies --cpu as the service places its prover process: every thread of this
// process on --cpu, one P, the prover thread pinned there too when it starts.
func place(o *options) (placement.Plan, error) {
	none := placement.Plan{Prover: -1}
	if o.cpu < 0 {
		return none, nil
	}
	allowed, err := placement.Allowed()
	if err != nil {
		return none, fmt.Errorf("--cpu: %w", err)
	}
	if !slices.Contains(allowed, o.cpu) {
		return none, fmt.Errorf("--cpu: CPU %d is not among the process's CPUs %s", o.cpu, placement.FormatList(allowed))
	}
	plan := placement.Plan{Allowed: []int{o.cpu}, Prover: o.cpu, Rest: []int{o.cpu}}
	if err := plan.ConfineProcess(); err != nil {
		return none, err
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	fmt.Fprintf(o.stdout, "prover thread on CPU %d with every other thread of the process, GOMAXPROCS %d, as the service's prover process\n",
		o.cpu, runtime.GOMAXPROCS(0))
	return plan, nil
}

func verifyFile(o *options) error {
	p, leaves, err := readProofFile(o.verify)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := posw.Verify(o.statement, p, leaves); err != nil {
		return fmt.Errorf("%s: invalid proof of %d leaves: %w", o.verify, leaves, err)
	}
	fmt.Fprintf(o.stdout, "%s: valid proof of %d leaves (%d proof nodes), verified in %s\n",
		o.verify, leaves, len(p.ProofNodes), time.Since(start).Round(time.Microsecond))
	return nil
}

func kernel(o *options) error {
	var x posw.Node
	const batch = 1 << 14
	start := time.Now()
	deadline := start.Add(o.duration)
	n := 0
	for time.Now().Before(deadline) {
		posw.Chain(&x, batch)
		n += batch
	}
	el := time.Since(start)
	rate := float64(n) / el.Seconds()
	fmt.Fprintf(o.stdout, "kernel: %s, %d chained compressions in %s, %.2f ns each\n", posw.Kernel(), n, el.Round(time.Millisecond), float64(el.Nanoseconds())/float64(n))
	fmt.Fprintf(o.stdout, "ceiling leaves/s: %d\n", int64(rate/posw.LabelHashes))
	fmt.Fprintf(o.stdout, "compressions/s: %d\n", int64(rate))
	return nil
}

func bench(ctx context.Context, o *options, onThread func() error) error {
	dir := o.datadir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "poet_bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if !o.resume {
		if _, err := os.Stat(filepath.Join(dir, prover.StateFile)); err == nil {
			return fmt.Errorf("%s holds an earlier run: pass --resume to continue it or remove it", dir)
		}
	}
	estimated := o.leaves
	if estimated == 0 {
		estimated = uint64(o.duration.Seconds()) * o.lps
	}
	progress := &prover.Progress{}
	cfg := prover.Config{
		Dir:                dir,
		Statement:          o.statement,
		End:                time.Now().Add(o.duration),
		Leaves:             o.leaves,
		DiskLayers:         prover.DiskLayers(time.Second, estimated, o.memory),
		TreeFileBuffer:     o.fileBuffer,
		CheckpointInterval: o.checkpoint,
		TIDFile:            filepath.Join(dir, "round.tid"),
		OnThread:           onThread,
		Progress:           progress,
	}
	fmt.Fprintf(o.stdout, "kernel: %s, statement %x, %d layer(s) on disk in %s\n", posw.Kernel(), o.statement, cfg.DiskLayers, dir)
	start := time.Now()
	res, err := prover.Run(ctx, cfg)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	done := res.Leaves - progress.ResumedFrom()
	if r := progress.ResumedFrom(); r > 0 {
		fmt.Fprintf(o.stdout, "resumed from leaf %d\n", r)
	}
	vstart := time.Now()
	if err := posw.Verify(o.statement, res.Proof, res.Leaves); err != nil {
		return fmt.Errorf("own proof does not verify: %w", err)
	}
	fmt.Fprintf(o.stdout, "proof of %d leaves (%d proof nodes), root %x, verified in %s\n",
		res.Leaves, len(res.Proof.ProofNodes), res.Proof.Root, time.Since(vstart).Round(time.Microsecond))
	if o.proofOut != "" {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			return err
		}
		if err := writeProofFile(o.proofOut, res.Proof, res.Leaves, pub); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.stdout, "%d leaves in %s\n", done, elapsed.Round(time.Millisecond))
	fmt.Fprintf(o.stdout, "leaves/s: %d\n", int64(float64(done)/elapsed.Seconds()))
	return nil
}
