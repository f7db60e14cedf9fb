package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
			serveBuffered(gw, w, r, maxAge(s.b.Info().ValidUntil))
			return
		case get && path == "/v1/pow_params":
			_, until := s.b.PowParams()
			serveBuffered(gw, w, r, maxAge(until))
			return
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

// serveProof serves a finished round's proof from the rendered cache, any size, as
// immutable, through http.ServeContent: HEAD, Range and If-Range, If-None-Match and
// If-Modified-Since. A client that accepts gzip gets the gzip form, rendered once per
// round, with its own strong ETag; any other gets the JSON byte for byte as the gateway
// renders it. The call runs through the gRPC interceptors like the gateway's routes.
// Unknown and malformed IDs are the gateway's 404 "proof not found".
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
	body, etag := p.json, p.etag
	h := w.Header()
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		gz, gzEtag, err := p.gzipped(r.Context())
		if err != nil {
			return // the client went away while the gzip form was rendered
		}
		if gz != nil {
			body, etag = gz, gzEtag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheForever)
	h.Set("Content-Type", "application/json")
	content := bytes.NewReader(body)
	http.ServeContent(&bodyWriter{ResponseWriter: w, body: body, content: content}, r, "", p.rendered, content)
}

// bodyWriter is the ResponseWriter http.ServeContent writes a rendered body to. It sets
// Content-Length on a whole 200 answer, which ServeContent leaves out when
// Content-Encoding is set (it expects on-the-fly compression there), and it writes the
// body's bytes in one call instead of ServeContent's 32 KiB copies (1.5–2× the
// million-member proofs per second of BenchmarkProofCached, measured side by side).
type bodyWriter struct {
	http.ResponseWriter
	body    []byte
	content *bytes.Reader // what ServeContent reads body from
}

func (w *bodyWriter) WriteHeader(code int) {
	if h := w.Header(); code == http.StatusOK && h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	w.ResponseWriter.WriteHeader(code)
}

// ReadFrom is how io.CopyN in ServeContent sends a single part: a limited read of the
// content from its current offset, which is a slice of body. Anything else is copied.
func (w *bodyWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok || lr.R != w.content {
		return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	off, err := w.content.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	part := w.body[off:min(off+max(lr.N, 0), int64(len(w.body)))]
	n, err := w.ResponseWriter.Write(part)
	lr.N -= int64(n)
	if _, serr := w.content.Seek(int64(n), io.SeekCurrent); err == nil {
		err = serr
	}
	return int64(n), err
}

// acceptsGzip reads Accept-Encoding (RFC 9110 §12.5.3): gzip or x-gzip with a non-zero
// q, or "*" with a non-zero q when gzip is not named.
func acceptsGzip(headers []string) bool {
	named, gzipOK, anyOK := false, false, false
	for _, h := range headers {
		for item := range strings.SplitSeq(h, ",") {
			coding, params, _ := strings.Cut(item, ";")
			q := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					} else {
						q = 0 // a malformed weight does not enable a coding
					}
				}
			}
			switch c := strings.ToLower(strings.TrimSpace(coding)); c {
			case "gzip", "x-gzip":
				named = true
				gzipOK = gzipOK || q > 0
			case "*":
				anyOK = anyOK || q > 0
			}
		}
	}
	if named {
		return gzipOK
	}
	return anyOK
}

// serveBuffered serves a small gateway answer (info, PoW params) through
// http.ServeContent, so HEAD, conditional and Range requests work: the gateway's own
// mux knows only GET. A 200 gets a strong ETag of its body and cacheControl; errors
// pass through as the gateway wrote them. They are never compressed: gzip does not pay
// (mainnet's info, 222 bytes, gzips to 203, less than the Content-Encoding and Vary
// headers it would add; PoW params, 90 bytes, to 110).
func serveBuffered(gw *runtime.ServeMux, w http.ResponseWriter, r *http.Request, cacheControl string) {
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	rec.header.Set("Cache-Control", cacheControl)
	get := r
	if r.Method != http.MethodGet {
		get = r.Clone(r.Context())
		get.Method = http.MethodGet
	}
	gw.ServeHTTP(rec, get)
	h := w.Header()
	for k, v := range rec.header {
		h[k] = v
	}
	if rec.code != http.StatusOK {
		h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
		w.WriteHeader(rec.code)
		if r.Method != http.MethodHead {
			w.Write(rec.body.Bytes()) //nolint:errcheck // the client went away
		}
		return
	}
	sum := sha256.Sum256(rec.body.Bytes())
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(rec.body.Bytes()))
}

// recorder keeps a handler's answer in memory.
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// maxAge allows caching until a moment, in whole seconds, rounded down.
func maxAge(until time.Time) string {
	secs := int64(time.Until(until) / time.Second)
	return "public, max-age=" + strconv.FormatInt(max(secs, 0), 10)
}
