// Package server serves the PoET API: gRPC (PoetService and, on its own listener,
// ConfigurationService), the REST gateway with the reference's JSON, and the ops HTTP
// server (/metrics, /healthz, /readyz, /status).
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
)

// Config configures the listeners and limits.
type Config struct {
	RPCListen       string
	RESTListen      string
	ConfigRPCListen string
	// MetricsListen is the ops server's address; empty disables it.
	MetricsListen string
	// MaxGRPCMsgSize bounds gRPC messages in both directions.
	MaxGRPCMsgSize int
	// MaxGatewayRespSize is the reference's --max-grpc-resp-size. The gateway here
	// calls the service in-process and finished proofs are served from a cache, so no
	// response is limited by it; it is accepted for configuration compatibility.
	MaxGatewayRespSize int
	// MaxRequestBytes bounds a REST request body.
	MaxRequestBytes int64
	// ShutdownTimeout bounds a graceful stop; then connections are closed.
	ShutdownTimeout time.Duration
}

// Addrs are the addresses the server listens on.
type Addrs struct {
	RPC, REST, ConfigRPC, Metrics string
}

// Server is the API server. New does no I/O; Run opens the listeners.
type Server struct {
	cfg    Config
	b      Backend
	reg    *prometheus.Registry
	log    *slog.Logger
	proofs *proofCache

	mu        sync.Mutex
	addrs     Addrs
	listening chan struct{}
}

// New returns a server for a backend, registering its metrics in reg.
func New(cfg Config, b Backend, reg *prometheus.Registry, log *slog.Logger) *Server {
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 1 << 20
	}
	if cfg.MaxGRPCMsgSize <= 0 {
		cfg.MaxGRPCMsgSize = 256 << 20
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, b: b, reg: reg, log: log, proofs: newProofCache(b, 4), listening: make(chan struct{})}
}

// Listening is closed once every listener is open; Addrs is then valid.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addrs returns the bound addresses.
func (s *Server) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// Run serves until ctx ends, then stops gracefully within the shutdown timeout. It
// returns the first error of any server.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	listen := func(addr string) (net.Listener, error) {
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		return l, nil
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	open := func(addr string) (net.Listener, error) {
		l, err := listen(addr)
		if err == nil {
			ls = append(ls, l)
		}
		return l, err
	}
	rpcL, err := open(s.cfg.RPCListen)
	if err != nil {
		return err
	}
	restL, err := open(s.cfg.RESTListen)
	if err != nil {
		return err
	}
	cfgL, err := open(s.cfg.ConfigRPCListen)
	if err != nil {
		return err
	}
	var opsL net.Listener
	if s.cfg.MetricsListen != "" {
		if opsL, err = open(s.cfg.MetricsListen); err != nil {
			return err
		}
	}

	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(0.001, 2, 16))))
	if err := s.reg.Register(metrics); err != nil {
		return fmt.Errorf("registering gRPC metrics: %w", err)
	}
	defer s.reg.Unregister(metrics)
	healthSrv := health.NewServer()
	newGRPC := func() *grpc.Server {
		g := grpc.NewServer(
			grpc.KeepaliveParams(keepalive.ServerParameters{
				MaxConnectionIdle: 120 * time.Minute, MaxConnectionAge: 180 * time.Minute,
				MaxConnectionAgeGrace: 10 * time.Minute, Time: time.Minute, Timeout: 3 * time.Minute,
			}),
			grpc.MaxRecvMsgSize(s.cfg.MaxGRPCMsgSize),
			grpc.MaxSendMsgSize(s.cfg.MaxGRPCMsgSize),
			grpc.ChainUnaryInterceptor(metrics.UnaryServerInterceptor(), s.logCalls),
		)
		healthpb.RegisterHealthServer(g, healthSrv)
		reflection.Register(g)
		return g
	}
	svc := &poetService{b: s.b, proofs: s.proofs, log: s.log}
	rpc := newGRPC()
	apiv1.RegisterPoetServiceServer(rpc, svc)
	cfgRPC := newGRPC()
	apiv1.RegisterConfigurationServiceServer(cfgRPC, &configService{b: s.b})
	metrics.InitializeMetrics(rpc)
	metrics.InitializeMetrics(cfgRPC)

	gw := runtime.NewServeMux()
	if err := apiv1.RegisterPoetServiceHandlerServer(ctx, gw, svc); err != nil {
		return fmt.Errorf("registering the REST gateway: %w", err)
	}
	rest := &http.Server{Handler: s.restHandler(gw), ReadHeaderTimeout: 10 * time.Second}
	var ops *http.Server
	if opsL != nil {
		ops = &http.Server{Handler: s.opsHandler(), ReadHeaderTimeout: 10 * time.Second}
	}

	s.mu.Lock()
	s.addrs = Addrs{RPC: rpcL.Addr().String(), REST: restL.Addr().String(), ConfigRPC: cfgL.Addr().String()}
	if opsL != nil {
		s.addrs.Metrics = opsL.Addr().String()
	}
	s.mu.Unlock()
	close(s.listening)
	ls = nil // owned by the servers from here on

	go s.watchReady(ctx, healthSrv)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveGRPC(rpc, rpcL) })
	g.Go(func() error { return serveGRPC(cfgRPC, cfgL) })
	g.Go(func() error { return serveHTTP(rest, restL) })
	if ops != nil {
		g.Go(func() error { return serveHTTP(ops, opsL) })
	}
	g.Go(func() error {
		<-gctx.Done()
		healthSrv.Shutdown()
		stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		var wg sync.WaitGroup
		for _, gs := range []*grpc.Server{rpc, cfgRPC} {
			wg.Go(func() { stopGRPC(stopCtx, gs) })
		}
		errs := []error{shutdownHTTP(stopCtx, rest)}
		if ops != nil {
			errs = append(errs, shutdownHTTP(stopCtx, ops))
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	return g.Wait()
}

func serveGRPC(g *grpc.Server, l net.Listener) error {
	if err := g.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving gRPC on %s: %w", l.Addr(), err)
	}
	return nil
}

func serveHTTP(h *http.Server, l net.Listener) error {
	if err := h.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP on %s: %w", l.Addr(), err)
	}
	return nil
}

// stopGRPC drains in-flight calls until ctx ends, then closes every connection.
func stopGRPC(ctx context.Context, g *grpc.Server) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		g.Stop()
		<-done
	}
}

func shutdownHTTP(ctx context.Context, h *http.Server) error {
	if err := h.Shutdown(ctx); err != nil {
		h.Close()
		return fmt.Errorf("shutting down HTTP: %w", err)
	}
	return nil
}

// watchReady keeps the gRPC health status in step with the backend.
func (s *Server) watchReady(ctx context.Context, h *health.Server) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if s.b.Ready() != nil {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		h.SetServingStatus("", st)
		h.SetServingStatus(apiv1.PoetService_ServiceDesc.ServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.log.Debug("call", "method", info.FullMethod, "duration", time.Since(start), "error", err)
	return resp, err
}

// writeError writes the gateway's error body for a gRPC code.
func writeError(w http.ResponseWriter, httpStatus, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	b, _ := json.Marshal(map[string]any{"code": code, "message": msg, "details": []any{}})
	w.Write(b)
}

func maxAge(until time.Time) string {
	secs := int64(time.Until(until) / time.Second)
	return "public, max-age=" + strconv.FormatInt(max(secs, 0), 10)
}
