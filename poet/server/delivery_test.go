package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poet-operator/poet-operator/poet/registration"
)

// rawClient sends exactly the headers it is given: no Accept-Encoding of its own and no
// transparent decoding, so the bytes on the wire are what the test sees.
var rawClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func rawReq(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return send(t, rawClient, method, url, "{}", hdr...)
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startProof serves one proof of n members as round 1 and returns the JSON the gateway
// renders for it, which a client asking for no encoding must get byte for byte.
func startProof(t *testing.T, n int) (*env, []byte) {
	t.Helper()
	p := proofWithMembers(n)
	e := start(t, &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: p}})
	raw, err := gatewayJSON.Marshal(proofMessage(p, servicePubkey))
	if err != nil {
		t.Fatal(err)
	}
	// protojson's whitespace differs between builds; the served form is compact.
	var want bytes.Buffer
	if err := json.Compact(&want, raw); err != nil {
		t.Fatal(err)
	}
	return e, want.Bytes()
}

func TestProofEncodings(t *testing.T) {
	e, want := startProof(t, 2000)
	url := e.base + "/v1/proofs/1"

	// No Accept-Encoding, or one without gzip: today's bytes.
	var identityTag string
	for _, ae := range []string{"", "identity", "br", "gzip;q=0", "gzip;q=0, *;q=1", "deflate, *;q=0"} {
		resp, body := rawReq(t, "GET", url, "Accept-Encoding", ae)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("Accept-Encoding %q: %d, %d bytes, want the %d bytes of JSON", ae, resp.StatusCode, len(body), len(want))
		}
		h := resp.Header
		if h.Get("Content-Encoding") != "" || h.Get("Content-Length") != strconv.Itoa(len(want)) || h.Get("Vary") != "Accept-Encoding" ||
			h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != cacheForever || h.Get("Accept-Ranges") != "bytes" ||
			h.Get("Last-Modified") == "" {
			t.Fatalf("Accept-Encoding %q: headers %v", ae, h)
		}
		if identityTag == "" {
			identityTag = h.Get("ETag")
		} else if h.Get("ETag") != identityTag {
			t.Fatalf("Accept-Encoding %q: ETag %s, want %s", ae, h.Get("ETag"), identityTag)
		}
	}

	// gzip, however it is asked for: the same JSON, compressed, with its own ETag.
	var gz []byte
	for _, ae := range []string{"gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*", "x-gzip", "GZIP"} {
		resp, body := rawReq(t, "GET", url, "Accept-Encoding", ae)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Encoding") != "gzip" || h.Get("Content-Length") != strconv.Itoa(len(body)) ||
			h.Get("Vary") != "Accept-Encoding" || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != cacheForever {
			t.Fatalf("Accept-Encoding %q: %d %v", ae, resp.StatusCode, h)
		}
		if tag := h.Get("ETag"); len(tag) != 34 || tag == identityTag {
			t.Fatalf("gzip ETag %s, identity %s", tag, identityTag)
		}
		if !bytes.Equal(gunzip(t, body), want) {
			t.Fatal("gzip body does not decode to the JSON")
		}
		if gz == nil {
			gz = body
		} else if !bytes.Equal(gz, body) {
			t.Fatal("gzip form differs between requests: it must be rendered once")
		}
	}
	if len(gz) >= len(want)*3/4 {
		t.Errorf("gzip is %d bytes of %d", len(gz), len(want))
	}

	// Go's default transport asks for gzip and decodes by itself, as go-spacemesh's
	// retryablehttp over cleanhttp's pooled transport does.
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !resp.Uncompressed || !bytes.Equal(body, want) {
		t.Fatalf("default transport: %d, uncompressed %v, %d bytes, %v", resp.StatusCode, resp.Uncompressed, len(body), err)
	}
}

func TestProofHeadRangeConditional(t *testing.T) {
	e, want := startProof(t, 500)
	url := e.base + "/v1/proofs/1"
	resp, _ := rawReq(t, "GET", url)
	tag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	resp, gz := rawReq(t, "GET", url, "Accept-Encoding", "gzip")
	gzTag := resp.Header.Get("ETag")

	// HEAD: the GET's headers, no body.
	for _, tc := range []struct{ ae, tag, length, enc string }{
		{"", tag, strconv.Itoa(len(want)), ""},
		{"gzip", gzTag, strconv.Itoa(len(gz)), "gzip"},
	} {
		resp, body := rawReq(t, "HEAD", url, "Accept-Encoding", tc.ae)
		h := resp.Header
		if resp.StatusCode != 200 || len(body) != 0 || h.Get("ETag") != tc.tag || h.Get("Content-Length") != tc.length ||
			h.Get("Content-Encoding") != tc.enc || h.Get("Cache-Control") != cacheForever || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("HEAD %q: %d, %d bytes, %v", tc.ae, resp.StatusCode, len(body), h)
		}
	}

	// Range, on either form's bytes.
	n := len(want)
	for _, tc := range []struct {
		rng, ae string
		full    []byte
		from    int
		to      int
	}{
		{"bytes=0-99", "", want, 0, 100},
		{"bytes=1000-", "", want, 1000, n},
		{"bytes=-50", "", want, n - 50, n},
		{"bytes=10-19", "gzip", gz, 10, 20},
	} {
		resp, body := rawReq(t, "GET", url, "Range", tc.rng, "Accept-Encoding", tc.ae)
		cr := "bytes " + strconv.Itoa(tc.from) + "-" + strconv.Itoa(tc.to-1) + "/" + strconv.Itoa(len(tc.full))
		if resp.StatusCode != 206 || !bytes.Equal(body, tc.full[tc.from:tc.to]) || resp.Header.Get("Content-Range") != cr ||
			resp.Header.Get("Content-Length") != strconv.Itoa(tc.to-tc.from) {
			t.Errorf("Range %s %q: %d %v, %d bytes", tc.rng, tc.ae, resp.StatusCode, resp.Header, len(body))
		}
	}
	// Several ranges: multipart/byteranges.
	resp, body := rawReq(t, "GET", url, "Range", "bytes=0-9,20-29")
	if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges; boundary=") ||
		!bytes.Contains(body, want[0:10]) || !bytes.Contains(body, want[20:30]) || bytes.Contains(body, want[0:30]) {
		t.Errorf("two ranges: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := rawReq(t, "GET", url, "Range", "bytes="+strconv.Itoa(n)+"-"); resp.StatusCode != 416 {
		t.Errorf("unsatisfiable range: %d", resp.StatusCode)
	}
	// If-Range: the part while the tag matches, else the whole proof.
	if resp, body := rawReq(t, "GET", url, "Range", "bytes=0-9", "If-Range", tag); resp.StatusCode != 206 || len(body) != 10 {
		t.Errorf("If-Range matching: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := rawReq(t, "GET", url, "Range", "bytes=0-9", "If-Range", gzTag); resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Errorf("If-Range of the other form: %d, %d bytes", resp.StatusCode, len(body))
	}

	// Conditional GET, per form.
	for _, tc := range []struct {
		ae, hdr, val string
		code         int
	}{
		{"", "If-None-Match", tag, 304},
		{"", "If-None-Match", `"x", ` + tag, 304},
		{"", "If-None-Match", "W/" + tag, 304},
		{"", "If-None-Match", "*", 304},
		{"", "If-None-Match", gzTag, 200},
		{"gzip", "If-None-Match", gzTag, 304},
		{"gzip", "If-None-Match", tag, 200},
		{"", "If-Modified-Since", lastMod, 304},
		{"", "If-Modified-Since", time.Unix(0, 0).UTC().Format(http.TimeFormat), 200},
		{"", "If-Match", `"other"`, 412},
	} {
		resp, body := rawReq(t, "GET", url, "Accept-Encoding", tc.ae, tc.hdr, tc.val)
		if resp.StatusCode != tc.code {
			t.Errorf("%s %s (%q): %d, want %d", tc.hdr, tc.val, tc.ae, resp.StatusCode, tc.code)
			continue
		}
		switch tc.code {
		case 304:
			wantTag := tag
			if tc.ae == "gzip" {
				wantTag = gzTag
			}
			if len(body) != 0 || resp.Header.Get("ETag") != wantTag || resp.Header.Get("Cache-Control") != cacheForever {
				t.Errorf("%s %s: 304 with %v", tc.hdr, tc.val, resp.Header)
			}
		case 412:
			if resp.Header.Get("Content-Encoding") != "" {
				t.Errorf("412 with %v", resp.Header)
			}
		}
	}
}

// A first request for a proof being rendered waits for that one rendering, in both
// forms; the gzip form is rendered once.
func TestProofRenderedOnceForBothForms(t *testing.T) {
	gate := make(chan struct{})
	b := &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: proofWithMembers(300)}, proofGate: gate}
	e := start(t, b)
	type got struct {
		body []byte
		enc  string
	}
	results := make(chan got, 8)
	for i := range 8 {
		go func() {
			ae := ""
			if i%2 == 0 {
				ae = "gzip"
			}
			resp, body := rawReq(t, "GET", e.base+"/v1/proofs/1", "Accept-Encoding", ae)
			results <- got{body, resp.Header.Get("Content-Encoding")}
		}()
	}
	close(gate)
	var plain, gz [][]byte
	for range 8 {
		r := <-results
		if r.enc == "gzip" {
			gz = append(gz, r.body)
		} else {
			plain = append(plain, r.body)
		}
	}
	if len(plain) != 4 || len(gz) != 4 {
		t.Fatalf("%d plain and %d gzip answers", len(plain), len(gz))
	}
	for i := range 4 {
		if !bytes.Equal(plain[i], plain[0]) || !bytes.Equal(gz[i], gz[0]) || !bytes.Equal(gunzip(t, gz[i]), plain[0]) {
			t.Fatal("answers differ")
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proofCalls != 1 {
		t.Errorf("backend Proof called %d times", b.proofCalls)
	}
}

// A newly published proof is rendered before anyone asks for it.
func TestProofWarmedOnPublish(t *testing.T) {
	b := &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: proofWithMembers(10)}}
	e := start(t, b)
	one := uint64(1)
	b.set(func(b *fakeBackend) { b.lastProof = &one })
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.mu.Lock()
		calls := b.proofCalls
		b.mu.Unlock()
		if calls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the published proof was not rendered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.s.proofs.mu.Lock()
	n := len(e.s.proofs.entries)
	e.s.proofs.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d cached proofs", n)
	}
	if resp, _ := rawReq(t, "GET", e.base+"/v1/proofs/1", "Accept-Encoding", "gzip"); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proofCalls != 1 {
		t.Errorf("backend Proof called %d times", b.proofCalls)
	}
}

// /v1/info and /v1/pow_params answer HEAD (they answered 501) and conditional GETs, and
// their bodies are unchanged and never compressed.
func TestSmallEndpointsHeadAndConditional(t *testing.T) {
	e := start(t, &fakeBackend{})
	for _, path := range []string{"/v1/info", "/v1/pow_params"} {
		get, body := rawReq(t, "GET", e.base+path, "Accept-Encoding", "gzip")
		tag := get.Header.Get("ETag")
		if get.StatusCode != 200 || len(tag) != 34 || get.Header.Get("Content-Encoding") != "" ||
			!strings.HasPrefix(get.Header.Get("Cache-Control"), "public, max-age=") || get.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %v", path, get.StatusCode, get.Header)
		}
		head, hbody := rawReq(t, "HEAD", e.base+path)
		if head.StatusCode != 200 || len(hbody) != 0 || head.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
			head.Header.Get("ETag") != tag || head.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD %s: %d %v", path, head.StatusCode, head.Header)
		}
		if resp, b := rawReq(t, "GET", e.base+path, "If-None-Match", tag); resp.StatusCode != 304 || len(b) != 0 {
			t.Errorf("If-None-Match %s: %d", path, resp.StatusCode)
		}
	}
	// Other methods stay the gateway's.
	if resp, _ := rawReq(t, "POST", e.base+"/v1/info"); resp.StatusCode != 501 {
		t.Errorf("POST /v1/info: %d", resp.StatusCode)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		h    []string
		want bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"deflate", "gzip"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"gzip;q=0.001"}, true},
		{[]string{"gzip;q=bad"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"gzip;q=0, *"}, false},
		{[]string{"identity"}, false},
		{[]string{"br, zstd"}, false},
		{[]string{" X-Gzip "}, true},
	} {
		if got := acceptsGzip(tc.h); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v", tc.h, got)
		}
	}
}

// BenchmarkProofReady measures, at a million members, the time from the proof being
// available to the server (the round's end as the server sees it) to the first 200 of
// the JSON and of the gzip form, both requested before that moment; and their sizes.
func BenchmarkProofReady(b *testing.B) {
	big := proofWithMembers(1_000_000)
	var first, gz time.Duration
	var jsonBytes, gzBytes int64
	for b.Loop() {
		gate := make(chan struct{})
		fb := &fakeBackend{proofs: map[uint64]*registration.StoredProof{1: big}, proofGate: gate}
		s := New(Config{}, fb, prometheus.NewRegistry(), nil)
		h, err := s.restHandler()
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		var t0 time.Time
		type answer struct {
			at   time.Duration
			n    int64
			err  error
			gzip bool
		}
		answers := make(chan answer, 2)
		for _, ae := range []string{"", "gzip"} {
			go func() {
				r, _ := http.NewRequest("GET", srv.URL+"/v1/proofs/1", nil)
				if ae != "" {
					r.Header.Set("Accept-Encoding", ae)
				}
				resp, err := rawClient.Do(r)
				if err != nil {
					answers <- answer{err: err}
					return
				}
				at := time.Since(t0)
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
				answers <- answer{at: at, n: n, err: err, gzip: ae != ""}
			}()
		}
		for { // the first request is waiting for the backend
			fb.mu.Lock()
			calls := fb.proofCalls
			fb.mu.Unlock()
			if calls > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		t0 = time.Now()
		close(gate)
		for range 2 {
			a := <-answers
			if a.err != nil {
				b.Fatal(a.err)
			}
			if a.gzip {
				gz, gzBytes = a.at, a.n
			} else {
				first, jsonBytes = a.at, a.n
			}
		}
		srv.Close()
	}
	b.ReportMetric(float64(first.Milliseconds()), "first200-ms")
	b.ReportMetric(float64(gz.Milliseconds()), "gzip200-ms")
	b.ReportMetric(float64(jsonBytes), "json-bytes")
	b.ReportMetric(float64(gzBytes)/float64(jsonBytes), "gzip/json")
}
