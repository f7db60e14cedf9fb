package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poet-operator/poet-operator/poet/registration"
)

// restHandler is the REST API: finished proofs from the rendered cache, everything else
// through the gateway, with cache headers (reference issue #330) and a body limit.
func (s *Server) restHandler(gw *runtime.ServeMux) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/proofs/{round}", s.serveProof)
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", maxAge(s.b.Info().ValidUntil))
		gw.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /v1/pow_params", func(w http.ResponseWriter, r *http.Request) {
		_, until := s.b.PowParams()
		w.Header().Set("Cache-Control", maxAge(until))
		gw.ServeHTTP(w, r)
	})
	mux.Handle("/", gw)
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poet_http_requests_total", Help: "REST requests by route and status code.",
	}, []string{"handler", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "poet_http_request_duration_seconds", Help: "REST request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"handler"})
	s.reg.MustRegister(requests, duration)
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxRequestBytes {
			writeError(w, http.StatusRequestEntityTooLarge, int(codes.InvalidArgument),
				"request body of "+strconv.FormatInt(r.ContentLength, 10)+" bytes exceeds "+strconv.FormatInt(s.cfg.MaxRequestBytes, 10))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
		if r.URL.Path == "/v1/submit" {
			w.Header().Set("Cache-Control", "no-store")
		}
		mux.ServeHTTP(w, r)
	})
	return promhttp.InstrumentHandlerDuration(duration.MustCurryWith(prometheus.Labels{"handler": "rest"}),
		promhttp.InstrumentHandlerCounter(requests.MustCurryWith(prometheus.Labels{"handler": "rest"}), limited))
}

// serveProof serves a finished round's proof from the rendered cache: immutable, with a
// strong ETag, any size.
func (s *Server) serveProof(w http.ResponseWriter, r *http.Request) {
	p, err := s.proofs.get(r.Context(), r.PathValue("round"))
	if err != nil {
		st := status.Convert(toStatus(err, s.log, "fetching proof"))
		if errors.Is(err, registration.ErrProofNotFound) {
			st = status.New(codes.NotFound, registration.ErrProofNotFound.Error())
		}
		writeError(w, runtime.HTTPStatusFromCode(st.Code()), int(st.Code()), st.Message())
		return
	}
	h := w.Header()
	h.Set("ETag", p.etag)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if r.Header.Get("If-None-Match") == p.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(p.json)))
	w.Write(p.json)
}

// opsHandler serves /metrics, /healthz, /readyz and /status.
func (s *Server) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.b.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(s.b.Status())
	})
	return mux
}
