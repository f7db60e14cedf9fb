// Package nodeclient speaks the REST API as go-spacemesh does: info and pow_params, a
// registration by proof of work or by certificate (signed over genesis ‖ 0x04 ‖ challenge),
// and the proof of a round, checked as the node checks it. It is what the project's tools
// and end-to-end tests use to act as a node.
package nodeclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// Client is one node's view of a poet.
type Client struct {
	// Base is the REST base URL, e.g. http://poet.ns.svc.
	Base string
	// HTTP is the client; nil means http.DefaultClient (compression on, as nodes have it).
	HTTP *http.Client
	// GenesisID is the network's 20-byte genesis ID, signed into registrations.
	GenesisID [20]byte
}

// StatusError is a non-200 answer.
type StatusError struct {
	Code   int
	Body   string
	Header http.Header
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// Code is the HTTP status an error of Do stands for: 200 for nil, the StatusError's code
// (wrapped or not), and 0 where no answer was read.
func Code(err error) int {
	var se *StatusError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &se):
		return se.Code
	default:
		return 0
	}
}

// Do sends req (nil: "{}") as JSON and decodes a 200 answer into out (may be nil).
func (c *Client) Do(ctx context.Context, method, path string, req, out proto.Message) error {
	body := []byte("{}")
	if req != nil {
		b, err := protojson.Marshal(req)
		if err != nil {
			return err
		}
		body = b
	}
	r, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &StatusError{Code: resp.StatusCode, Body: string(raw), Header: resp.Header}
	}
	if out == nil {
		return nil
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(raw, out)
}

// Info is GET /v1/info.
func (c *Client) Info(ctx context.Context) (*apiv1.InfoResponse, error) {
	var out apiv1.InfoResponse
	return &out, c.Do(ctx, http.MethodGet, "/v1/info", nil, &out)
}

// Identity is a node's key and the challenge it registers.
type Identity struct {
	Pub       ed25519.PublicKey
	Priv      ed25519.PrivateKey
	Challenge []byte
}

// NewIdentity is a fresh key and a random 32-byte challenge.
func NewIdentity() Identity {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	c := make([]byte, 32)
	_, _ = rand.Read(c)
	return Identity{Pub: pub, Priv: priv, Challenge: c}
}

// Request is the signed submit request of id, without PoW or certificate.
func (c *Client) Request(id Identity, deadline time.Time) *apiv1.SubmitRequest {
	prefix := append(slices.Clone(c.GenesisID[:]), 0x04)
	return &apiv1.SubmitRequest{
		Prefix:    prefix,
		Challenge: id.Challenge,
		Pubkey:    id.Pub,
		Signature: ed25519.Sign(id.Priv, append(slices.Clone(prefix), id.Challenge...)),
		Deadline:  timestamppb.New(deadline),
	}
}

// SubmitPoW registers on the proof-of-work path: pow_params, then nonces counted up from 0.
func (c *Client) SubmitPoW(ctx context.Context, id Identity, deadline time.Time) (*apiv1.SubmitResponse, error) {
	var pp apiv1.PowParamsResponse
	if err := c.Do(ctx, http.MethodGet, "/v1/pow_params", nil, &pp); err != nil {
		return nil, fmt.Errorf("pow_params: %w", err)
	}
	req := c.Request(id, deadline)
	req.PowParams = pp.PowParams
	nonce, err := registration.FindNonce(pp.PowParams.GetChallenge(), id.Pub, id.Challenge, uint(pp.PowParams.GetDifficulty()))
	if err != nil {
		return nil, fmt.Errorf("solving the proof of work: %w", err)
	}
	req.Nonce = nonce
	var out apiv1.SubmitResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/submit", req, &out)
}

// SubmitCertificate registers with a certificate for id.Pub, no expiry, signed by certifier.
func (c *Client) SubmitCertificate(ctx context.Context, id Identity, certifier ed25519.PrivateKey, deadline time.Time) (*apiv1.SubmitResponse, error) {
	data := append(append([]byte{0x80}, id.Pub...), 0x00) // SCALE CertOnWire{Pubkey, Expiration: None}
	req := c.Request(id, deadline)
	req.Certificate = &apiv1.SubmitRequest_Certificate{Data: data, Signature: ed25519.Sign(certifier, data)}
	var out apiv1.SubmitResponse
	return &out, c.Do(ctx, http.MethodPost, "/v1/submit", req, &out)
}

// Proof fetches a round's proof, retrying 404 (not yet proved) every interval until ctx
// ends, as the node does after the round end.
func (c *Client) Proof(ctx context.Context, round string, interval time.Duration) (*apiv1.ProofResponse, error) {
	for {
		var out apiv1.ProofResponse
		err := c.Do(ctx, http.MethodGet, "/v1/proofs/"+round, nil, &out)
		if se, ok := err.(*StatusError); ok && se.Code == http.StatusNotFound {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("proof of round %s: %w (last: %v)", round, ctx.Err(), err)
			case <-time.After(interval):
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("proof of round %s: %w", round, err)
		}
		return &out, nil
	}
}

// Validate checks a proof as go-spacemesh does (statement from the members, the PoSW
// verifier, the service key) and that it holds every challenge in want.
func Validate(resp *apiv1.ProofResponse, servicePubkey []byte, want [][]byte) error {
	p := resp.GetProof()
	if p.GetProof() == nil {
		return fmt.Errorf("no proof in the answer")
	}
	for _, m := range p.Members {
		if len(m) != 32 {
			return fmt.Errorf("member of %d bytes", len(m))
		}
	}
	for _, c := range want {
		if !slices.ContainsFunc(p.Members, func(m []byte) bool { return bytes.Equal(m, c) }) {
			return fmt.Errorf("challenge %x missing from the %d members", c, len(p.Members))
		}
	}
	stmt := registration.MembershipRoot(p.Members)
	proof := &posw.Proof{Root: p.Proof.Root, ProvenLeaves: p.Proof.ProvenLeaves, ProofNodes: p.Proof.ProofNodes}
	if err := posw.Verify(stmt, proof, p.Leaves); err != nil {
		return fmt.Errorf("proof of %d leaves: %w", p.Leaves, err)
	}
	if !bytes.Equal(resp.Pubkey, servicePubkey) {
		return fmt.Errorf("proof signed for pubkey %x, service %x", resp.Pubkey, servicePubkey)
	}
	return nil
}
