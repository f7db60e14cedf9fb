// Command poet_load registers fresh identities with a PoET service over REST, as
// go-spacemesh nodes do, from many concurrent clients, and reports acknowledged
// registrations per second and latency percentiles. Requests (keys, signatures, proof
// of work or certificates) are prepared before the clock starts, so the figures measure
// the service.
//
// With --proof-burst ROUND it is instead the round end: every client fetches the
// round's proof at once, each after the node's jitter, and it reports the wall time,
// latency percentiles and bytes on the wire per client, every body checked.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/registration"
)

type options struct {
	url          string
	concurrency  int
	count        int
	certifierKey ed25519.PrivateKey
	genesisID    []byte
	timeout      time.Duration

	burstRound    string        // --proof-burst: the round whose proof to fetch
	cycleGap      time.Duration // sets the jitter
	servicePubkey []byte        // the proof's expected pubkey, when set
	decodeEach    bool          // every client decodes its body (--decode each)
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "poet_load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.burstRound != "" {
		res, err := runBurst(ctx, o, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "poet_load:", err)
			os.Exit(1)
		}
		if len(res.failures) > 0 {
			os.Exit(1)
		}
		return
	}
	res, err := run(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "poet_load:", err)
		os.Exit(1)
	}
	if res.failed > 0 {
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("poet_load", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the service's REST address")
	fs.IntVar(&o.concurrency, "c", 64, "concurrent clients")
	fs.IntVar(&o.count, "n", 10000, "registrations to send, one fresh identity each")
	certKey := fs.String("certifier-key", "", "base64 ed25519 certifier private key (seed or 64 bytes): register with certificates instead of proof of work")
	genesis := fs.String("genesis-id", hex.EncodeToString(make([]byte, 20)), "20-byte genesis ID, hex, signed into every registration")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.StringVar(&o.burstRound, "proof-burst", "", "fetch this round's proof from -c clients at once, with the node's jitter, instead of registering")
	fs.DurationVar(&o.cycleGap, "cycle-gap", 12*time.Hour, "with --proof-burst: the cycle gap; each client waits 0.02–0.04 % of it (mainnet: 8.64–17.28 s)")
	decode := fs.String("decode", "each", "with --proof-burst: \"each\" client decodes its body as Go's transport does, or \"once\": bodies are compared as they came over the wire and one is decoded")
	pubkey := fs.String("service-pubkey", "", "with --proof-burst: the service's base64 public key the proof must carry")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *pubkey != "" {
		b, err := base64.StdEncoding.DecodeString(*pubkey)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("--service-pubkey must be 32 bytes of base64")
		}
		o.servicePubkey = b
	}
	switch *decode {
	case "each":
		o.decodeEach = true
	case "once":
	default:
		return nil, fmt.Errorf("--decode must be each or once, not %q", *decode)
	}
	if o.cycleGap < 0 {
		return nil, fmt.Errorf("--cycle-gap must not be negative")
	}
	if o.concurrency < 1 || o.count < 1 {
		return nil, fmt.Errorf("-c and -n must be positive")
	}
	g, err := hex.DecodeString(*genesis)
	if err != nil || len(g) != 20 {
		return nil, fmt.Errorf("--genesis-id must be 20 bytes of hex")
	}
	o.genesisID = g
	if *certKey != "" {
		b, err := base64.StdEncoding.DecodeString(*certKey)
		switch {
		case err != nil:
			return nil, fmt.Errorf("--certifier-key: %w", err)
		case len(b) == ed25519.SeedSize:
			o.certifierKey = ed25519.NewKeyFromSeed(b)
		case len(b) == ed25519.PrivateKeySize:
			o.certifierKey = ed25519.PrivateKey(b)
		default:
			return nil, fmt.Errorf("--certifier-key must be 32 or 64 bytes, got %d", len(b))
		}
	}
	return o, nil
}

type result struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration
	codes      map[int]int
}

func run(ctx context.Context, o *options, out io.Writer) (*result, error) {
	client := &http.Client{
		Timeout:   o.timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency},
	}
	bodies, err := prepare(ctx, o, client)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "prepared %d registrations; sending with %d clients to %s\n", len(bodies), o.concurrency, o.url)
	var next atomic.Int64
	res := &result{codes: map[int]int{}, latencies: make([]time.Duration, 0, len(bodies))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				t0 := time.Now()
				code := post(ctx, client, o.url+"/v1/submit", bodies[i])
				lat := time.Since(t0)
				mu.Lock()
				res.codes[code]++
				if code == http.StatusOK {
					res.ok++
					res.latencies = append(res.latencies, lat)
				} else {
					res.failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	report(out, res)
	return res, ctx.Err()
}

// prepare builds every request body: fresh identity, signature over genesis ‖ 0x04 ‖
// challenge, and a certificate or the proof of work for the service's current params.
func prepare(ctx context.Context, o *options, client *http.Client) ([][]byte, error) {
	var pp *apiv1.PowParams
	if o.certifierKey == nil {
		var resp apiv1.PowParamsResponse
		if err := get(ctx, client, o.url+"/v1/pow_params", &resp); err != nil {
			return nil, err
		}
		pp = resp.PowParams
	}
	prefix := append(slices.Clone(o.genesisID), 0x04)
	deadline := timestamppb.New(time.Now().Add(365 * 24 * time.Hour))
	bodies := make([][]byte, o.count)
	for i := range bodies {
		pub, priv, _ := ed25519.GenerateKey(nil)
		challenge := make([]byte, 32)
		copy(challenge, pub)
		challenge[31] ^= byte(i)
		req := &apiv1.SubmitRequest{
			Prefix: prefix, Challenge: challenge, Pubkey: pub, Deadline: deadline,
			Signature: ed25519.Sign(priv, append(slices.Clone(prefix), challenge...)),
		}
		if o.certifierKey != nil {
			data, err := registration.EncodeCertificate(pub, nil)
			if err != nil {
				return nil, err
			}
			req.Certificate = &apiv1.SubmitRequest_Certificate{Data: data, Signature: ed25519.Sign(o.certifierKey, data)}
		} else {
			req.PowParams = pp
			nonce, err := registration.FindNonce(pp.Challenge, pub, challenge, uint(pp.Difficulty))
			if err != nil {
				return nil, fmt.Errorf("solving the proof of work: %w", err)
			}
			req.Nonce = nonce
		}
		b, err := protojson.Marshal(req)
		if err != nil {
			return nil, err
		}
		bodies[i] = b
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return bodies, nil
}

func get(ctx context.Context, client *http.Client, url string, out *apiv1.PowParamsResponse) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, bytes.NewReader([]byte("{}")))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching pow params: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching pow params: HTTP %d: %s", resp.StatusCode, b)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, out)
}

func post(ctx context.Context, client *http.Client, url string, body []byte) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func report(out io.Writer, r *result) {
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	l := r.latencies
	fmt.Fprintf(out, "acknowledged %d, failed %d in %s; status codes %v\n", r.ok, r.failed, r.elapsed.Round(time.Millisecond), r.codes)
	fmt.Fprintf(out, "latency p50 %s p90 %s p99 %s max %s\n", percentile(l, 0.5).Round(time.Microsecond),
		percentile(l, 0.9).Round(time.Microsecond), percentile(l, 0.99).Round(time.Microsecond), percentile(l, 1).Round(time.Microsecond))
	fmt.Fprintf(out, "registrations/s: %d\n", int64(float64(r.ok)/r.elapsed.Seconds()))
}
