package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/registration"
	opsstatus "github.com/poet-operator/poet-operator/poet/status"
)

// Info describes the service for GET /v1/info.
type Info struct {
	ServicePubkey []byte
	PhaseShift    time.Duration
	CycleGap      time.Duration
	// Certifier is nil when registration takes no certificates.
	Certifier *Certifier
	// ValidUntil is when the answer can next change (the next round start).
	ValidUntil time.Time
}

// Certifier is the certifier nodes should get certificates from.
type Certifier struct {
	URL    string
	Pubkey []byte
}

// Backend is what the API serves.
type Backend interface {
	Info() Info
	// PowParams returns the current params and until when they cannot change.
	PowParams() (registration.PowParams, time.Time)
	// Submit registers and returns the round and its end.
	Submit(ctx context.Context, req registration.SubmitRequest) (round uint64, roundEnd time.Time, err error)
	// Proof returns a finished round or registration.ErrProofNotFound.
	Proof(ctx context.Context, round uint64) (*registration.StoredProof, error)
	ReloadTrustedKeys(ctx context.Context) error
	// Status is the ops status document.
	Status() opsstatus.Status
	// Ready is nil once the service can take registrations.
	Ready() error
}

// poetService implements rpc.api.v1.PoetService over a Backend.
type poetService struct {
	apiv1.UnimplementedPoetServiceServer
	b      Backend
	proofs *proofCache
	log    *slog.Logger
}

func (s *poetService) PowParams(context.Context, *apiv1.PowParamsRequest) (*apiv1.PowParamsResponse, error) {
	p, _ := s.b.PowParams()
	return &apiv1.PowParamsResponse{PowParams: &apiv1.PowParams{Difficulty: p.Difficulty, Challenge: p.Challenge}}, nil
}

func (s *poetService) Submit(ctx context.Context, in *apiv1.SubmitRequest) (*apiv1.SubmitResponse, error) {
	req := registration.SubmitRequest{
		Prefix:                in.GetPrefix(),
		Challenge:             in.GetChallenge(),
		NodeID:                in.GetPubkey(),
		Signature:             in.GetSignature(),
		Nonce:                 in.GetNonce(),
		CertificatePubkeyHint: in.GetCertificatePubkeyHint(),
	}
	if in.Deadline != nil {
		req.Deadline = in.Deadline.AsTime()
	}
	if p := in.PowParams; p != nil {
		req.PowParams = &registration.PowParams{Difficulty: p.Difficulty, Challenge: p.Challenge}
	}
	if c := in.Certificate; c != nil {
		req.Certificate = &registration.Certificate{Data: c.Data, Signature: c.Signature}
	}
	round, end, err := s.b.Submit(ctx, req)
	if err != nil {
		return nil, toStatus(err, s.log, "submitting challenge")
	}
	return &apiv1.SubmitResponse{RoundId: strconv.FormatUint(round, 10), RoundEnd: durationpb.New(time.Until(end))}, nil
}

func (s *poetService) Info(context.Context, *apiv1.InfoRequest) (*apiv1.InfoResponse, error) {
	return infoResponse(s.b.Info()), nil
}

func infoResponse(in Info) *apiv1.InfoResponse {
	resp := &apiv1.InfoResponse{
		ServicePubkey: in.ServicePubkey,
		PhaseShift:    durationpb.New(in.PhaseShift),
		CycleGap:      durationpb.New(in.CycleGap),
	}
	if c := in.Certifier; c != nil {
		resp.Certifier = &apiv1.InfoResponse_Cerifier{Url: c.URL, Pubkey: c.Pubkey}
	}
	return resp
}

func (s *poetService) Proof(ctx context.Context, in *apiv1.ProofRequest) (*apiv1.ProofResponse, error) {
	p, err := s.proofs.get(ctx, in.GetRoundId())
	if err != nil {
		return nil, toStatus(err, s.log, "fetching proof")
	}
	return p.msg, nil
}

// configService implements rpc.api.v1.ConfigurationService.
type configService struct {
	apiv1.UnimplementedConfigurationServiceServer
	b Backend
}

// ReloadTrustedKeys returns the raw error with code Unknown, as the reference does.
func (s *configService) ReloadTrustedKeys(ctx context.Context, _ *apiv1.ReloadTrustedKeysRequest) (*apiv1.ReloadTrustedKeysResponse, error) {
	if err := s.b.ReloadTrustedKeys(ctx); err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &apiv1.ReloadTrustedKeysResponse{}, nil
}
