package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// digestSeed keys the digests the bodies are compared by: maphash, 64 bits at memory
// speed, so that comparing 100 copies of a 47 MB proof does not take the CPU the server
// needs (on the 2-vCPU benchmark machine, without SHA-NI, SHA-256 hashes 0.13 GB/s and
// maphash 3.2 GB/s). A wrong body matches the verified one with probability 2^-64: the
// digest guards against the server's mistakes, not against an adversary.
var digestSeed = maphash.MakeSeed()

// Node jitter after the round end before the proof is fetched: uniform in
// [0.02 %, 0.04 %] of the cycle gap (node-client.md §2.4).
const (
	jitterMin = 0.0002
	jitterMax = 0.0004
)

// burstResult is what a proof burst measured.
type burstResult struct {
	clients    int
	ok         int
	failures   []string
	wall       time.Duration   // first request sent to last body checked
	sinceEnd   time.Duration   // the burst's start (the round end) to last body checked
	first200   time.Duration   // the burst's start to the first response's headers
	latencies  []time.Duration // per client, request sent to body checked (successes)
	wire       []int64         // per client, bytes read from the connection (successes)
	bodyBytes  int             // the decoded body, the JSON
	gzip       int             // answers that came gzip-encoded
	members    int
	leaves     uint64
	retries404 int
}

// fetchResult is one client's fetch.
type fetchResult struct {
	digest  uint64 // of the body as read: decoded, or as on the wire with --decode once
	body    []byte // kept for the first success only
	coding  string // the Content-Encoding of a body read undecoded
	latency time.Duration
	headers time.Time
	done    time.Time
	started time.Time
	wire    int64
	gzip    bool
	retries int
	err     error
}

// runBurst starts o.concurrency clients at once, as nodes at the round end: each waits
// its jitter, then fetches the proof with its own default Go transport (compression
// on, as cleanhttp's pooled transport) and reads the whole body, as go-spacemesh does.
// After the burst one body is verified fully (members, statement, PoSW, key) and every
// other is compared with it by digest, so the clients do little besides receiving.
// With --decode once the clients send the same request (the transport's
// Accept-Encoding: gzip, set explicitly, which turns its decoding off) and hash the
// bytes as they came: identical wire bytes decode to identical bodies, so the one
// decoded and verified stands for all, and the clients' CPU goes to receiving, not to
// inflating 100 copies of the proof on the machine that also runs the server.
func runBurst(ctx context.Context, o *options, out io.Writer) (*burstResult, error) {
	lo, hi := time.Duration(float64(o.cycleGap)*jitterMin), time.Duration(float64(o.cycleGap)*jitterMax)
	decode := "every body decoded by the transport"
	if !o.decodeEach {
		decode = "bodies hashed as on the wire, one decoded"
	}
	fmt.Fprintf(out, "proof burst: %d clients fetch %s/v1/proofs/%s, jitter %s–%s (%.2f–%.2f %% of a %s cycle gap); %s\n",
		o.concurrency, o.url, o.burstRound, lo, hi, jitterMin*100, jitterMax*100, o.cycleGap, decode)
	results := make([]fetchResult, o.concurrency)
	var keep sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		delay := lo + time.Duration(rand.Float64()*float64(hi-lo))
		wg.Go(func() {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			results[i] = fetchProof(ctx, o, &keep)
		})
	}
	wg.Wait()
	res := &burstResult{clients: o.concurrency, sinceEnd: time.Since(start)}
	var body []byte
	var coding string
	var firstStart, lastDone, firstHeaders time.Time
	for _, r := range results {
		if r.body != nil {
			body, coding = r.body, r.coding
		}
		if !r.started.IsZero() && (firstStart.IsZero() || r.started.Before(firstStart)) {
			firstStart = r.started
		}
		if r.done.After(lastDone) {
			lastDone = r.done
		}
		if !r.headers.IsZero() && (firstHeaders.IsZero() || r.headers.Before(firstHeaders)) {
			firstHeaders = r.headers
		}
		res.retries404 += r.retries
	}
	res.sinceEnd = lastDone.Sub(start)
	res.wall = lastDone.Sub(firstStart)
	if !firstHeaders.IsZero() {
		res.first200 = firstHeaders.Sub(start)
	}
	var want uint64
	if body != nil {
		want = maphash.Bytes(digestSeed, body)
		if coding != "" {
			var err error
			if body, err = decodeBody(body, coding); err != nil {
				return res, err
			}
		}
		res.bodyBytes = len(body)
		var err error
		if res.members, res.leaves, err = verifyProofBody(body, o.servicePubkey); err != nil {
			return res, fmt.Errorf("verifying the proof: %w", err)
		}
	}
	for i, r := range results {
		switch {
		case r.err != nil:
			res.failures = append(res.failures, fmt.Sprintf("client %d: %v", i, r.err))
		case r.digest != want:
			res.failures = append(res.failures, fmt.Sprintf("client %d: body differs from the verified proof", i))
		default:
			res.ok++
			res.latencies = append(res.latencies, r.latency)
			res.wire = append(res.wire, r.wire)
			if r.gzip {
				res.gzip++
			}
		}
	}
	reportBurst(out, res)
	return res, ctx.Err()
}

// fetchProof is one node's GET: a fresh pooled transport like cleanhttp's, the node's
// `{}` body, 404 retried each second until the timeout, the body read whole and hashed.
func fetchProof(ctx context.Context, o *options, keep *sync.Once) fetchResult {
	var wire atomic.Int64
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, n: &wire}, nil
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   runtime.GOMAXPROCS(0) + 1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	r := fetchResult{started: time.Now()}
	url := o.url + "/v1/proofs/" + o.burstRound
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, bytes.NewReader([]byte("{}")))
		req.Header.Set("Content-Type", "application/json")
		if !o.decodeEach {
			req.Header.Set("Accept-Encoding", "gzip") // what the transport sends; now it leaves the body as is
		}
		resp, err := client.Do(req)
		if err != nil {
			r.err = err
			return r
		}
		if resp.StatusCode == http.StatusNotFound {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.retries++
			select {
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				r.err = fmt.Errorf("proof not found until the timeout: %w", ctx.Err())
				return r
			}
		}
		r.headers = time.Now()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			r.err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
			return r
		}
		// One client keeps its body for the verification; the others hash theirs as it
		// comes, which reads it whole as io.ReadAll does without holding 100 copies.
		kept := false
		keep.Do(func() { kept = true })
		var h maphash.Hash
		h.SetSeed(digestSeed)
		var body bytes.Buffer
		dst := io.Writer(&h)
		if kept {
			dst = io.MultiWriter(&h, &body)
		}
		_, err = io.Copy(dst, resp.Body)
		resp.Body.Close()
		if err != nil {
			r.err = fmt.Errorf("reading the body: %w", err)
			return r
		}
		r.digest = h.Sum64()
		r.gzip = resp.Uncompressed
		if !o.decodeEach {
			r.coding = resp.Header.Get("Content-Encoding")
			r.gzip = r.coding == "gzip"
		}
		if kept {
			r.body = body.Bytes()
		}
		r.done = time.Now()
		r.latency = r.done.Sub(r.started)
		r.wire = wire.Load()
		return r
	}
}

// decodeBody undoes a Content-Encoding as Go's transport would.
func decodeBody(body []byte, coding string) ([]byte, error) {
	if coding != "gzip" {
		return nil, fmt.Errorf("unexpected Content-Encoding %q", coding)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("decoding gzip: %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decoding gzip: %w", err)
	}
	return out, nil
}

// countingConn counts the bytes read from a connection: the answer as it came over the
// wire, headers and encoding included.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// verifyProofBody checks a proof's JSON as a node does: 32-byte members, the statement
// from the members, the PoSW proof against it, at most MaxProofNodes proof nodes, and
// the service key (when pubkey is set; else only that it is 32 bytes).
func verifyProofBody(body, pubkey []byte) (members int, leaves uint64, err error) {
	var resp apiv1.ProofResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &resp); err != nil {
		return 0, 0, fmt.Errorf("decoding: %w", err)
	}
	p := resp.GetProof()
	if p.GetProof() == nil {
		return 0, 0, errors.New("no proof in the answer")
	}
	for i, m := range p.Members {
		if len(m) != 32 {
			return 0, 0, fmt.Errorf("member %d is %d bytes, want 32", i, len(m))
		}
	}
	stmt := registration.MembershipRoot(p.Members)
	proof := &posw.Proof{Root: p.Proof.Root, ProvenLeaves: p.Proof.ProvenLeaves, ProofNodes: p.Proof.ProofNodes}
	if err := posw.Verify(stmt, proof, p.Leaves); err != nil {
		return 0, 0, fmt.Errorf("PoSW of %d leaves over %d members: %w", p.Leaves, len(p.Members), err)
	}
	if len(p.Proof.ProofNodes) > posw.MaxProofNodes {
		return 0, 0, fmt.Errorf("%d proof nodes, a node takes at most %d", len(p.Proof.ProofNodes), posw.MaxProofNodes)
	}
	switch {
	case pubkey != nil && !bytes.Equal(resp.Pubkey, pubkey):
		return 0, 0, fmt.Errorf("pubkey %x, want %x", resp.Pubkey, pubkey)
	case len(resp.Pubkey) != 32:
		return 0, 0, fmt.Errorf("pubkey of %d bytes, want 32", len(resp.Pubkey))
	}
	return len(p.Members), p.Leaves, nil
}

func reportBurst(out io.Writer, r *burstResult) {
	slices.Sort(r.latencies)
	slices.Sort(r.wire)
	fmt.Fprintf(out, "proof: %d members, %d leaves, %d bytes of JSON, verified once; %d of %d bodies equal it; %d gzip-encoded; %d retries on 404\n",
		r.members, r.leaves, r.bodyBytes, r.ok, r.clients, r.gzip, r.retries404)
	for _, f := range r.failures {
		fmt.Fprintln(out, "failed:", f)
	}
	l := r.latencies
	fmt.Fprintf(out, "latency p50 %s p90 %s p99 %s max %s\n", percentile(l, 0.5).Round(time.Millisecond),
		percentile(l, 0.9).Round(time.Millisecond), percentile(l, 0.99).Round(time.Millisecond), percentile(l, 1).Round(time.Millisecond))
	var total int64
	for _, w := range r.wire {
		total += w
	}
	perClient, ratio := int64(0), 0.0
	if len(r.wire) > 0 {
		perClient = total / int64(len(r.wire))
		if r.bodyBytes > 0 {
			ratio = float64(perClient) / float64(r.bodyBytes)
		}
	}
	fmt.Fprintf(out, "first headers %s after the start; last body %s after the start\n", r.first200.Round(time.Millisecond), r.sinceEnd.Round(time.Millisecond))
	fmt.Fprintf(out, "bytes on the wire per client: %d (%.3f of the JSON)\n", perClient, ratio)
	fmt.Fprintf(out, "burst wall (first request to last body): %.3f s\n", r.wall.Seconds())
}
