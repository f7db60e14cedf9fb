// Package server serves the PoET API: gRPC (PoetService and, on its own listener,
// ConfigurationService), the REST gateway with the reference's JSON, and the ops HTTP
// server (/metrics, /healthz, /readyz, /status).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Config configures the listeners and limits.
type Config struct {
	// RPCListen is the PoetService gRPC address (the reference's --rpclisten).
	RPCListen string
	// RESTListen is the REST address (--restlisten).
	RESTListen string
	// ConfigRPCListen is the ConfigurationService gRPC address (--config-rpclisten).
	ConfigRPCListen string
	// MetricsListen is the ops server's address; empty disables it. The reference
	// listens on ":<--metrics-port>".
	MetricsListen string
	// MaxGRPCMsgSize bounds the gRPC messages the service sends; a finished proof is sent
	// whole, so it must hold the largest round's (about 34 B per member). Default 256 MiB.
	MaxGRPCMsgSize int
	// MaxGRPCRecvMsgSize bounds the gRPC messages the service receives: a registration is
	// under a kilobyte, so a large limit only lets unauthenticated callers make the
	// process allocate. Default 4 MiB, the reference's (grpc-go's) limit.
	MaxGRPCRecvMsgSize int
	// RequestTimeout bounds reading a whole HTTP request, headers and body (a
	// registration is under a kilobyte), so a body sent a byte a second cannot hold a
	// connection. Answers are not limited: a large proof takes what the client needs.
	// Default 30 s.
	RequestTimeout time.Duration
	// MaxConns bounds the open connections of each listener; more are closed as they
	// are accepted. Default 4096; negative means no limit.
	MaxConns int
	// MaxConnsPerIP bounds the open connections from one client address on each
	// listener, so one client cannot take every slot. Default 256; negative means no
	// limit (behind a proxy that funnels every client through one address).
	MaxConnsPerIP int
	// MaxRequestBytes bounds a REST request body; a longer one is 413. Default 1 MiB.
	MaxRequestBytes int64
	// ShutdownTimeout bounds a graceful stop; then connections are closed and Run
	// returns an error saying so. Default 20 s.
	ShutdownTimeout time.Duration
}

// Addrs are the addresses the server listens on, as bound.
type Addrs struct {
	RPC, REST, ConfigRPC string
	// Metrics is empty when the ops server is disabled.
	Metrics string
}

// Server is the API server. New does no I/O; Run opens the listeners.
type Server struct {
	cfg       Config
	b         Backend
	reg       *prometheus.Registry
	log       *slog.Logger
	proofs    *proofCache
	svc       *poetService
	gwService *intercepted // svc through the interceptors, for the REST gateway

	grpcMetrics  *grpcprom.ServerMetrics
	unary        grpc.UnaryServerInterceptor
	httpRequests *prometheus.CounterVec
	conns        connMetrics
	httpDuration *prometheus.HistogramVec

	mu        sync.Mutex
	addrs     Addrs
	listening chan struct{}
}

// New returns a server for a backend. Its metrics go into reg when Run starts; log
// may be nil.
// Limits every listener has: a request's headers within headerTimeout, and a gRPC
// connection carries at most maxStreamsPerConn calls at once.
const (
	headerTimeout     = 10 * time.Second
	maxStreamsPerConn = 100
)

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
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxGRPCRecvMsgSize <= 0 {
		cfg.MaxGRPCRecvMsgSize = 4 << 20
	}
	cfg.MaxConns = orDefault(cfg.MaxConns, 4096)
	cfg.MaxConnsPerIP = orDefault(cfg.MaxConnsPerIP, 256)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, b: b, reg: reg, log: log, proofs: newProofCache(b, proofCacheSize, log), listening: make(chan struct{})}
	s.svc = &poetService{b: b, proofs: s.proofs, log: log}
	// One metrics object for both gRPC servers and the gateway, as the reference has.
	s.grpcMetrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(0.001, 2, 16))))
	s.unary = chainUnary(s.grpcMetrics.UnaryServerInterceptor(), s.logCalls)
	s.gwService = &intercepted{svc: s.svc, unary: s.unary}
	s.conns = newConnMetrics()
	s.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poet_http_requests_total", Help: "REST requests by HTTP status code.",
	}, []string{"code"})
	s.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "poet_http_request_duration_seconds", Help: "REST request latency, to the end of the response.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, nil)
	return s
}

// Listening is closed once every listener is open; Addrs is then valid.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addrs returns the bound addresses, once Listening is closed.
func (s *Server) Addrs() Addrs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// Run opens the listeners and serves until ctx ends or a server fails, then stops every
// server gracefully within the shutdown timeout, forcing what is left. It returns the
// first error: of a listener, a server, or the shutdown. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	var registered []prometheus.Collector
	defer func() {
		for _, c := range registered {
			s.reg.Unregister(c)
		}
	}()
	for _, c := range []prometheus.Collector{s.grpcMetrics, s.httpRequests, s.httpDuration, s.conns.open, s.conns.rejected} {
		if err := s.reg.Register(c); err != nil {
			return fmt.Errorf("registering server metrics: %w", err)
		}
		registered = append(registered, c)
	}
	ls, err := s.listen(ctx)
	if err != nil {
		return err
	}

	healthSrv := health.NewServer()
	rpc := s.newGRPC(healthSrv)
	apiv1.RegisterPoetServiceServer(rpc, s.svc)
	cfgRPC := s.newGRPC(healthSrv)
	apiv1.RegisterConfigurationServiceServer(cfgRPC, &configService{b: s.b})
	s.grpcMetrics.InitializeMetrics(rpc)
	s.grpcMetrics.InitializeMetrics(cfgRPC)

	restHandler, err := s.restHandler()
	if err != nil {
		ls.close()
		return err
	}
	rest := &http.Server{Handler: restHandler, ReadHeaderTimeout: headerTimeout, ReadTimeout: s.cfg.RequestTimeout, IdleTimeout: 2 * time.Minute}
	var ops *http.Server
	if ls.ops != nil {
		ops = &http.Server{Handler: s.opsHandler(), ReadHeaderTimeout: headerTimeout, ReadTimeout: s.cfg.RequestTimeout, IdleTimeout: 2 * time.Minute}
	}

	s.mu.Lock()
	s.addrs = Addrs{RPC: ls.rpc.Addr().String(), REST: ls.rest.Addr().String(), ConfigRPC: ls.cfg.Addr().String()}
	if ls.ops != nil {
		s.addrs.Metrics = ls.ops.Addr().String()
	}
	s.mu.Unlock()
	close(s.listening)
	s.log.Info("listening", "rpc", s.addrs.RPC, "rest", s.addrs.REST, "configRpc", s.addrs.ConfigRPC, "ops", s.addrs.Metrics)

	// The servers close the listeners from here on.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveGRPC(rpc, ls.rpc) })
	g.Go(func() error { return serveGRPC(cfgRPC, ls.cfg) })
	g.Go(func() error { return serveHTTP(rest, ls.rest) })
	if ops != nil {
		g.Go(func() error { return serveHTTP(ops, ls.ops) })
	}
	g.Go(func() error { s.watchReady(gctx, healthSrv); return nil })
	g.Go(func() error { s.warmProofs(gctx, time.Second); return nil })
	g.Go(func() error {
		<-gctx.Done()
		s.log.Info("stopping the servers", "timeout", s.cfg.ShutdownTimeout)
		healthSrv.Shutdown()
		return s.stop(rpc, cfgRPC, rest, ops)
	})
	return g.Wait()
}

// listeners are the server's open listeners; ops is nil when the ops server is off.
type listeners struct {
	rpc, rest, cfg, ops net.Listener
}

func (l listeners) close() {
	for _, x := range []net.Listener{l.rpc, l.rest, l.cfg, l.ops} {
		if x != nil {
			x.Close()
		}
	}
}

// listen opens every listener, each held to the connection limits; on an error it
// closes those it opened.
func (s *Server) listen(ctx context.Context) (listeners, error) {
	var ls listeners
	var lc net.ListenConfig
	open := func(dst *net.Listener, what, name, addr string) error {
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("listening for %s on %s: %w", what, addr, err)
		}
		*dst = limitConns(l, name, max(s.cfg.MaxConns, 0), max(s.cfg.MaxConnsPerIP, 0), s.conns)
		return nil
	}
	err := open(&ls.rpc, "gRPC", "rpc", s.cfg.RPCListen)
	if err == nil {
		err = open(&ls.rest, "REST", "rest", s.cfg.RESTListen)
	}
	if err == nil {
		err = open(&ls.cfg, "configuration gRPC", "config_rpc", s.cfg.ConfigRPCListen)
	}
	if err == nil && s.cfg.MetricsListen != "" {
		err = open(&ls.ops, "ops HTTP", "ops", s.cfg.MetricsListen)
	}
	if err != nil {
		ls.close()
		return listeners{}, err
	}
	return ls, nil
}

// newGRPC is a gRPC server with the service's limits, interceptors, health and
// reflection.
func (s *Server) newGRPC(healthSrv *health.Server) *grpc.Server {
	g := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     120 * time.Minute,
			MaxConnectionAge:      180 * time.Minute,
			MaxConnectionAgeGrace: 10 * time.Minute,
			Time:                  time.Minute,
			Timeout:               3 * time.Minute,
		}),
		grpc.MaxRecvMsgSize(s.cfg.MaxGRPCRecvMsgSize),
		grpc.MaxSendMsgSize(s.cfg.MaxGRPCMsgSize),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.UnaryInterceptor(s.unary),
	)
	healthpb.RegisterHealthServer(g, healthSrv)
	reflection.Register(g)
	return g
}

// stop drains every server within ShutdownTimeout, in parallel; ops may be nil.
func (s *Server) stop(rpc, cfgRPC *grpc.Server, rest, ops *http.Server) error {
	stopCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	errs := make([]error, 4)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = stopGRPC(stopCtx, "gRPC", rpc) })
	wg.Go(func() { errs[1] = stopGRPC(stopCtx, "configuration gRPC", cfgRPC) })
	wg.Go(func() { errs[2] = shutdownHTTP(stopCtx, "REST", rest) })
	if ops != nil {
		wg.Go(func() { errs[3] = shutdownHTTP(stopCtx, "ops HTTP", ops) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// orDefault is v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
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

// stopGRPC drains in-flight calls until ctx ends, then closes every connection,
// cancelling the calls left, and says so. It does not wait for handlers that ignore
// their context's cancellation.
func stopGRPC(ctx context.Context, what string, g *grpc.Server) error {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.Stop()
		return fmt.Errorf("stopping %s: calls still running at the shutdown timeout were cut off", what)
	}
}

// shutdownHTTP drains in-flight requests until ctx ends, then closes every connection.
func shutdownHTTP(ctx context.Context, what string, h *http.Server) error {
	if err := h.Shutdown(ctx); err != nil {
		return errors.Join(fmt.Errorf("shutting down %s: %w", what, err), h.Close())
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
		h.SetServingStatus(apiv1.ConfigurationService_ServiceDesc.ServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// warmProofs renders each newly published proof as soon as it is seen, so that the
// first nodes, which come 0.02–0.04 % of the cycle gap after the round end, find both
// forms ready. A request that comes during the rendering waits for it.
func (s *Server) warmProofs(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var warmed *uint64
	for {
		if last := s.b.Status().LastProofRound; last != nil && (warmed == nil || *warmed != *last) {
			round := *last
			warmed = &round
			if _, err := s.proofs.get(ctx, schedule.RoundID(round)); err != nil && ctx.Err() == nil {
				s.log.Warn("rendering the latest proof ahead of requests", "round", round, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logCalls logs every unary call, gRPC or through the gateway, at debug level.
func (s *Server) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	if s.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start)}
		if err != nil {
			attrs = append(attrs, "error", err)
		}
		s.log.DebugContext(ctx, "call", attrs...)
	}
	return resp, err
}
