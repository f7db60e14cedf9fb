// Command poet is the PoET service: a drop-in replacement for the reference
// spacemeshos/poet binary (same flags, config files, data directory key and API).
// With no flags it runs a development service on loopback.
package main

import (
	"context"
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/poet-operator/poet-operator/poet/config"
	"github.com/poet-operator/poet-operator/poet/cpuinfo"
	"github.com/poet-operator/poet-operator/poet/identity"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/round"
	"github.com/poet-operator/poet-operator/poet/server"
)

// version is stamped at build time (-X main.version=...).
var version = "dev"

func main() {
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
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("creating CPU profile: %w", err)
		}
		defer f.Close()
		if err := rpprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("starting CPU profile: %w", err)
		}
		defer rpprof.StopCPUProfile()
	}
	if cfg.Profile == "" {
		runtime.MemProfileRate = 0
	}
	for _, dir := range []string{cfg.DataDir, cfg.DbDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	key, err := identity.Load(cfg.DataDir, string(cfg.PrivateKey))
	if err != nil {
		return fmt.Errorf("loading the service key: %w", err)
	}
	sched := cfg.Schedule()
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	rc := cfg.Registration
	registry, err := registration.Open(filepath.Join(cfg.DbDir, "registrations.db"), sched, registration.Config{
		PowDifficulty:   uint32(rc.PowDifficulty),
		MaxRoundMembers: rc.MaxRoundMembers,
		CertifierURL:    rc.Certifier.URL,
		CertifierPubkey: rc.Certifier.PubKey,
		TrustedKeysDir:  rc.Certifier.TrustedKeysDirPath,
	}, registration.WithRegisterer(promReg), registration.WithLogger(log.With("component", "registration")))
	if err != nil {
		return fmt.Errorf("opening registrations: %w", err)
	}
	defer registry.Close()

	engine := round.New(round.Config{
		Schedule:           sched,
		DataDir:            cfg.DataDir,
		LPS:                cfg.Service.EstimatedLeavesPerSecond,
		MemoryLayers:       cfg.Service.MemoryLayers,
		TreeFileBuffer:     cfg.Service.TreeFileBufferSize,
		CheckpointInterval: cfg.Service.CheckpointInterval,
		DisableWorker:      cfg.DisableWorker,
	}, registry, log.With("component", "round"))
	promReg.MustRegister(round.NewCollector(engine))

	cpu, err := cpuinfo.Detect("/", cfg.Service.CPULimitMillis)
	if err != nil {
		log.Warn("cannot tell the CPU placement", "error", err)
	}
	exclusive := prometheus.NewGauge(prometheus.GaugeOpts{Name: "poet_prover_cpu_exclusive",
		Help: "1 when the container's cpuset is its whole CPUs and, as far as it can tell, no other container's (static CPU manager)."})
	if cpu.Exclusive {
		exclusive.Set(1)
	}
	promReg.MustRegister(exclusive)

	b := &backend{sched: sched, registry: registry, engine: engine, key: key, cpu: cpu, version: version}
	metricsListen := ""
	if cfg.MetricsPort != nil {
		metricsListen = ":" + strconv.Itoa(int(*cfg.MetricsPort))
	}
	srv := server.New(server.Config{
		RPCListen:          cfg.RawRPCListener,
		RESTListen:         cfg.RawRESTListener,
		ConfigRPCListen:    cfg.ConfigRPCListener,
		MetricsListen:      metricsListen,
		MaxGRPCMsgSize:     cfg.GRPCMaxMsgSize,
		MaxGatewayRespSize: cfg.MaxGrpcRespSize,
		MaxRequestBytes:    cfg.MaxRequestBytes,
		ShutdownTimeout:    cfg.ShutdownTimeout,
	}, b, promReg, log.With("component", "server"))

	log.Info("starting poet", "version", version, "servicePubkey", key.Public(), "genesis", sched.Genesis,
		"epoch", sched.EpochDuration, "phaseShift", sched.PhaseShift, "cycleGap", sched.CycleGap,
		"openRound", sched.OpenRound(sched.Genesis), "cpuset", cpu.Cpuset, "cpuExclusive", cpu.Exclusive, "cpuExclusiveReason", cpu.Reason)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return registry.Run(gctx) })
	g.Go(func() error { return engine.Run(gctx) })
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { return reloadOnHUP(gctx, registry, log) })
	if cfg.Profile != "" {
		g.Go(func() error { return servePprof(gctx, cfg.Profile) })
	}
	return g.Wait()
}

// reloadOnHUP reloads the trusted certifier keys on SIGHUP.
func reloadOnHUP(ctx context.Context, r *registration.Registry, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
