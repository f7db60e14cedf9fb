// Command poet is the PoET service: a drop-in replacement for the reference
// spacemeshos/poet binary (same flags, config files, data directory key and API).
// With no flags it runs a development service on loopback.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	rpprof "runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/poet-operator/poet-operator/poet/config"
	"github.com/poet-operator/poet-operator/poet/cpuinfo"
	"github.com/poet-operator/poet-operator/poet/identity"
	"github.com/poet-operator/poet-operator/poet/internal/sighup"
	"github.com/poet-operator/poet-operator/poet/placement"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/round"
	"github.com/poet-operator/poet-operator/poet/server"
)

// version is stamped at build time (-X main.version=...).
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == workerCommand {
		os.Exit(workerMain())
	}
	if len(os.Args) > 1 && (os.Args[1] == "migrate" || os.Args[1] == "db") {
		sighup.Reset() // one-shot commands end on a hangup, as commands do
	}
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		os.Exit(migrateMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 2 && os.Args[1] == "db" && os.Args[2] == "check" {
		os.Exit(dbCheckMain(os.Args[3:], os.Stdout, os.Stderr))
	}
	cfg, err := config.Load(os.Args[1:], os.Getenv)
	switch {
	case errors.Is(err, config.ErrVersion):
		fmt.Println(version)
		return
	case errors.Is(err, config.ErrHelp):
		fmt.Println(err)
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "poet:", err)
		os.Exit(2)
	}
	log := newLogger(os.Stderr, cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("poet stopped", "error", err)
		os.Exit(1)
	}
	log.Info("poet stopped")
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.DebugLog {
		opts.Level = slog.LevelDebug
	}
	if cfg.JSONLog {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run wires the service together and runs it until ctx ends: the registry's group
// committer, the round engine and the servers, in one errgroup.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	stopProfile, err := startProfiling(cfg)
	if err != nil {
		return err
	}
	defer stopProfile()
	for _, dir := range []string{cfg.DataDir, cfg.DbDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	key, err := identity.Load(cfg.DataDir, string(cfg.PrivateKey))
	if err != nil {
		return fmt.Errorf("loading the service key: %w", err)
	}
	if err := checkSchedule(cfg, log); err != nil {
		return err
	}
	cpu, err := cpuinfo.Detect("/", cfg.Service.CPULimitMillis) // before any thread moves
	if err != nil {
		log.Warn("cannot tell the CPU placement", "error", err)
	}
	plan, err := placeThreads(cfg.Service)
	if err != nil {
		return err
	}
	sched := cfg.Schedule()
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	registry, err := openRegistry(cfg, promReg, log)
	if err != nil {
		return err
	}
	defer registry.Close()
	if err := importReference(cfg, registry, key, log); err != nil {
		return err
	}

	runProver, proverThread, err := proverRunner(cfg, plan)
	if err != nil {
		return err
	}
	engine := round.New(round.Config{
		Schedule:           sched,
		DataDir:            cfg.DataDir,
		LPS:                cfg.Service.EstimatedLeavesPerSecond,
		LPSGiven:           cfg.Service.LPSGiven,
		MemoryLayers:       cfg.Service.MemoryLayers,
		TreeFileBuffer:     cfg.Service.TreeFileBufferSize,
		CheckpointInterval: cfg.Service.CheckpointInterval,
		Calibration:        cfg.Service.Calibration,
		DisableWorker:      cfg.DisableWorker,
		ProverThread:       proverThread,
		RunProver:          runProver,
		ProverThreadDone:   plan.Release,
	}, registry, log.With("component", "round"))
	promReg.MustRegister(round.NewCollector(engine))

	registerPlacement(promReg, cpu, plan)

	b := &backend{sched: sched, registry: registry, engine: engine, key: key, cpu: cpu, plan: plan, version: version}
	srv := server.New(serverConfig(cfg), b, promReg, log.With("component", "server"))

	log.Info("starting poet", "version", version, "servicePubkey", base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), "genesis", sched.Genesis,
		"epoch", sched.EpochDuration, "phaseShift", sched.PhaseShift, "cycleGap", sched.CycleGap,
		"openRound", sched.OpenRound(sched.Genesis), "cpuset", cpu.Cpuset, "cpuExclusive", cpu.Exclusive, "cpuExclusiveReason", cpu.Reason,
		"proverCPU", plan.Prover, "idleCPUs", placement.FormatList(plan.Idle), "otherCPUs", placement.FormatList(plan.Rest),
		"proverSched", plan.Sched.String(), "gomaxprocs", runtime.GOMAXPROCS(0))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return registry.Run(gctx) })
	g.Go(func() error { return engine.Run(gctx) })
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return reloadOnHUP(gctx, sighup.C, registry, log) })
	if cfg.Profile != "" {
		g.Go(func() error { return servePprof(gctx, cfg.Profile) })
	}
	return g.Wait()
}

// startProfiling starts --cpuprofile, and turns memory profiling off unless --profile
// serves it; the returned function stops the CPU profile.
func startProfiling(cfg *config.Config) (func(), error) {
	if cfg.Profile == "" {
		runtime.MemProfileRate = 0
	}
	if cfg.CPUProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(cfg.CPUProfile)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	return func() { rpprof.StopCPUProfile(); f.Close() }, nil
}

// openRegistry opens the registration store with the configured rules.
func openRegistry(cfg *config.Config, promReg *prometheus.Registry, log *slog.Logger) (*registration.Registry, error) {
	rc := cfg.Registration
	registry, err := registration.Open(filepath.Join(cfg.DbDir, "registrations.db"), cfg.Schedule(), registration.Config{
		PowDifficulty:   uint32(rc.PowDifficulty),
		MaxRoundMembers: rc.MaxRoundMembers,
		CertifierURL:    rc.Certifier.URL,
		CertifierPubkey: rc.Certifier.PubKey,
		TrustedKeysDir:  rc.Certifier.TrustedKeysDirPath,
	}, registration.WithRegisterer(promReg), registration.WithLogger(log.With("component", "registration")))
	if err != nil {
		return nil, fmt.Errorf("opening registrations: %w", err)
	}
	return registry, nil
}

// registerPlacement exports where the threads run and whether the CPUs are the pod's.
func registerPlacement(promReg *prometheus.Registry, cpu cpuinfo.Info, plan placement.Plan) {
	exclusive := prometheus.NewGauge(prometheus.GaugeOpts{Name: "poet_prover_cpu_exclusive",
		Help: "1 when the container's cpuset is its whole CPUs and, as far as it can tell, no other container's (static CPU manager)."})
	if cpu.Exclusive {
		exclusive.Set(1)
	}
	proverCPU := prometheus.NewGauge(prometheus.GaugeOpts{Name: "poet_prover_cpu",
		Help: "The CPU the prover thread runs on alone, -1 when it is not pinned."})
	proverCPU.Set(float64(plan.Prover))
	placementInfo := prometheus.NewGauge(prometheus.GaugeOpts{Name: "poet_prover_placement_info",
		Help: "Where the threads run: the prover's CPU, its idle SMT siblings, the other threads' CPUs and the prover's scheduling policy.",
		ConstLabels: prometheus.Labels{"prover_cpu": strconv.Itoa(plan.Prover), "idle_cpus": placement.FormatList(plan.Idle),
			"other_cpus": placement.FormatList(plan.Rest), "sched": plan.Sched.String()}})
	placementInfo.Set(1)
	promReg.MustRegister(exclusive, proverCPU, placementInfo)
}

// serverConfig is the listeners and limits from the configuration.
func serverConfig(cfg *config.Config) server.Config {
	metricsListen := ""
	if cfg.MetricsPort != nil {
		metricsListen = ":" + strconv.Itoa(int(*cfg.MetricsPort))
	}
	return server.Config{
		RPCListen:          cfg.RawRPCListener,
		RESTListen:         cfg.RawRESTListener,
		ConfigRPCListen:    cfg.ConfigRPCListener,
		MetricsListen:      metricsListen,
		MaxGRPCMsgSize:     cfg.GRPCMaxMsgSize,
		MaxGRPCRecvMsgSize: cfg.GRPCMaxRecvMsgSize,
		MaxRequestBytes:    cfg.MaxRequestBytes,
		MaxConns:           noLimitIfZero(cfg.MaxConns),
		MaxConnsPerIP:      noLimitIfZero(cfg.MaxConnsPerIP),
		ShutdownTimeout:    cfg.ShutdownTimeout,
	}
}

// noLimitIfZero maps a flag's 0 (no limit) to the server's -1; its 0 means the default.
func noLimitIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// checkSchedule records the round timing in a new data directory and refuses timing
// other than the recorded one.
func checkSchedule(cfg *config.Config, log *slog.Logger) error {
	recorded, err := round.CheckSchedule(cfg.DataDir, cfg.Schedule(), time.Now())
	if err != nil {
		return err
	}
	if recorded {
		log.Info("round schedule recorded in the data directory", "file", filepath.Join(cfg.DataDir, round.ScheduleFile))
	}
	return nil
}

// placeThreads gives the prover thread a CPU of its own (see package placement): it
// checks the scheduling policy can be set, chooses the CPUs and fixes GOMAXPROCS. When a
// round starts the prover thread moves every other thread to the rest and pins itself;
// when it ends every thread gets all the CPUs back, so registration uses them between
// rounds.
func placeThreads(c config.ServiceConfig) (placement.Plan, error) {
	s := placement.Sched{Policy: c.ProverSched, Priority: c.ProverPriority}
	if err := placement.CheckSched(s); err != nil {
		return placement.Plan{}, err
	}
	allowed, err := placement.Allowed()
	if errors.Is(err, placement.ErrUnsupported) && c.ProverCPU < 0 {
		return placement.Plan{Prover: -1, Sched: s}, nil
	}
	if err != nil {
		return placement.Plan{}, err
	}
	plan, err := placement.Choose(allowed, c.ProverCPU, placement.Siblings("/", allowed), placement.Interrupts("/"))
	if err != nil {
		return plan, fmt.Errorf("--prover-cpu: %w", err)
	}
	plan.Sched = s
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(plan.GoMaxProcs(runtime.GOMAXPROCS(0)))
	}
	return plan, nil
}

// reloadOnHUP reloads the trusted certifier keys on each SIGHUP received on hup,
// including one received before it ran.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, r *registration.Registry, log *slog.Logger) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if err := r.ReloadTrustedKeys(); err != nil {
				log.Warn("reloading trusted keys", "error", err)
			} else {
				log.Info("trusted keys reloaded")
			}
		}
	}
}

func servePprof(ctx context.Context, port string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: net.JoinHostPort("localhost", port), Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving pprof: %w", err)
	}
	return nil
}
