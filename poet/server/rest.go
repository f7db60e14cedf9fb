package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
)

// Cache-Control values (reference issue #330). Info and PowParams get a max-age up to
// when their answer can change.
const (
	cacheForever = "public, max-age=31536000, immutable"
	cacheNever   = "no-store"
)

// restHandler is the REST API: grpc-gateway's ServeMux with its default marshaler, as
// the reference has it, calling the service in-process through the gRPC interceptors;
// in front of it the body limit, cache headers, and finished proofs from the rendered
// cache. Errors are the gateway's, with Cache-Control: no-store.
func (s *Server) restHandler() (http.Handler, error) {
	gw := runtime.NewServeMux(runtime.WithErrorHandler(
		func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Cache-Control", cacheNever)
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
		}))
	if err := apiv1.RegisterPoetServiceHandlerServer(context.Background(), gw, s.gwService); err != nil {
		return nil, fmt.Errorf("registering the REST gateway: %w", err)
	}
	route := func(w http.ResponseWriter, r *http.Request) {
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch path := r.URL.Path; {
		case get && path == "/v1/info":
			w.Header().Set("Cache-Control", maxAge(s.b.Info().ValidUntil))
		case get && path == "/v1/pow_params":
			_, until := s.b.PowParams()
			w.Header().Set("Cache-Control", maxAge(until))
		case path == "/v1/submit":
			w.Header().Set("Cache-Control", cacheNever)
		case get && strings.HasPrefix(path, "/v1/proofs/") && !strings.Contains(path[len("/v1/proofs/"):], "/"):
			s.serveProof(gw, w, r, path[len("/v1/proofs/"):])
			return
		}
		gw.ServeHTTP(w, r)
	}
	return promhttp.InstrumentHandlerDuration(s.httpDuration,
		promhttp.InstrumentHandlerCounter(s.httpRequests, s.limitBody(gw, http.HandlerFunc(route)))), nil
}

// limitBody reads the request body up to MaxRequestBytes before the gateway sees it.
// A longer body is 413 with the gateway's error body and code ResourceExhausted (8), the
// code gRPC itself gives a message over its receive limit; the HTTP status is 413 and not
// the gateway's 429 for that code, because go-spacemesh retries a 429 without end.
func (s *Server) limitBody(gw *runtime.ServeMux, next http.Handler) http.Handler {
	limit := s.cfg.MaxRequestBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, out := runtime.MarshalerForRequest(gw, r)
		tooLarge := func() {
			runtime.HTTPError(r.Context(), gw, out, w, r, &runtime.HTTPStatusError{
				HTTPStatus: http.StatusRequestEntityTooLarge,
				Err:        status.Errorf(codes.ResourceExhausted, "request body larger than %d bytes", limit),
			})
		}
		if r.ContentLength > limit {
			tooLarge()
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			tooLarge()
			return
		case err != nil:
			runtime.HTTPError(r.Context(), gw, out, w, r, status.Errorf(codes.InvalidArgument, "reading request body: %v", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// serveProof serves a finished round's proof from the rendered cache, any size, with a
// strong ETag, as immutable. The call runs through the gRPC interceptors like the
// gateway's routes. Unknown and malformed IDs are the gateway's 404 "proof not found".
func (s *Server) serveProof(gw *runtime.ServeMux, w http.ResponseWriter, r *http.Request, id string) {
	var p *renderedProof
	_, err := invoke(r.Context(), s.gwService, apiv1.PoetService_Proof_FullMethodName, &apiv1.ProofRequest{RoundId: id},
		func(ctx context.Context, in *apiv1.ProofRequest) (*apiv1.ProofResponse, error) {
			rp, err := s.proofs.get(ctx, in.GetRoundId())
			if err != nil {
				return nil, toStatus(err, s.log, "fetching proof")
			}
			p = rp
			return rp.msg, nil
		})
	if err != nil {
		_, out := runtime.MarshalerForRequest(gw, r)
		runtime.HTTPError(r.Context(), gw, out, w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", p.etag)
	h.Set("Cache-Control", cacheForever)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, p.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(p.json)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(p.json) //nolint:errcheck // the client went away
	}
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 §13.1.2) against a strong tag.
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// maxAge allows caching until a moment, in whole seconds, rounded down.
func maxAge(until time.Time) string {
	secs := int64(time.Until(until) / time.Second)
	return "public, max-age=" + strconv.FormatInt(max(secs, 0), 10)
}
