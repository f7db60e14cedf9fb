package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/registration"
	opsstatus "github.com/poet-operator/poet-operator/poet/status"
)

// Info describes the service for GET /v1/info.
type Info struct {
	// ServicePubkey is the service's 32-byte ed25519 public key.
	ServicePubkey []byte
	// PhaseShift and CycleGap are the round schedule's; nodes check PhaseShift.
	PhaseShift time.Duration
	CycleGap   time.Duration
	// Certifier is nil when registration takes no certificates.
	Certifier *Certifier
	// ValidUntil is when the answer can next change; it sets the response's max-age.
	ValidUntil time.Time
}

// Certifier is the certifier nodes should get certificates from.
type Certifier struct {
	URL    string
	Pubkey []byte
}

// Backend is what the API serves. The server holds no state of its own beyond caches
// of finished proofs.
type Backend interface {
	// Info describes the service.
	Info() Info
	// PowParams returns the current params and until when they cannot change.
	PowParams() (registration.PowParams, time.Time)
	// Submit registers a challenge and returns its round and the round's end. Its
	// errors are the registration package's sentinels (see errors.go).
	Submit(ctx context.Context, req registration.SubmitRequest) (round uint64, roundEnd time.Time, err error)
	// Proof returns a finished round's proof or registration.ErrProofNotFound. A
	// returned proof never changes: the server caches what it renders from it.
	Proof(ctx context.Context, round uint64) (*registration.StoredProof, error)
	// ReloadTrustedKeys re-reads the trusted certifier keys.
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
	if in.GetDeadline() != nil {
		req.Deadline = in.GetDeadline().AsTime()
	}
	if p := in.GetPowParams(); p != nil {
		req.PowParams = &registration.PowParams{Difficulty: p.GetDifficulty(), Challenge: p.GetChallenge()}
	}
	if c := in.GetCertificate(); c != nil {
		req.Certificate = &registration.Certificate{Data: c.GetData(), Signature: c.GetSignature()}
	}
	round, end, err := s.b.Submit(ctx, req)
	if err != nil {
		return nil, toStatus(err, s.log, "submitting challenge")
	}
	return &apiv1.SubmitResponse{RoundId: strconv.FormatUint(round, 10), RoundEnd: durationpb.New(time.Until(end))}, nil
}

func (s *poetService) Info(context.Context, *apiv1.InfoRequest) (*apiv1.InfoResponse, error) {
	in := s.b.Info()
	resp := &apiv1.InfoResponse{
		ServicePubkey: in.ServicePubkey,
		PhaseShift:    durationpb.New(in.PhaseShift),
		CycleGap:      durationpb.New(in.CycleGap),
	}
	if c := in.Certifier; c != nil {
		resp.Certifier = &apiv1.InfoResponse_Cerifier{Url: c.URL, Pubkey: c.Pubkey}
	}
	return resp, nil
}

// Proof answers from the proof cache: the message is built once per round.
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

// intercepted runs the gRPC server's unary interceptors around in-process calls from
// the REST gateway, so that REST traffic shows in grpc_server_* metrics and the call log
// as it does with the reference, whose gateway dials its own gRPC listener.
type intercepted struct {
	apiv1.UnimplementedPoetServiceServer
	svc   apiv1.PoetServiceServer
	unary grpc.UnaryServerInterceptor
}

func (i *intercepted) PowParams(ctx context.Context, in *apiv1.PowParamsRequest) (*apiv1.PowParamsResponse, error) {
	return invoke(ctx, i, apiv1.PoetService_PowParams_FullMethodName, in, i.svc.PowParams)
}

func (i *intercepted) Submit(ctx context.Context, in *apiv1.SubmitRequest) (*apiv1.SubmitResponse, error) {
	return invoke(ctx, i, apiv1.PoetService_Submit_FullMethodName, in, i.svc.Submit)
}

func (i *intercepted) Info(ctx context.Context, in *apiv1.InfoRequest) (*apiv1.InfoResponse, error) {
	return invoke(ctx, i, apiv1.PoetService_Info_FullMethodName, in, i.svc.Info)
}

func (i *intercepted) Proof(ctx context.Context, in *apiv1.ProofRequest) (*apiv1.ProofResponse, error) {
	return invoke(ctx, i, apiv1.PoetService_Proof_FullMethodName, in, i.svc.Proof)
}

// invoke calls h through the interceptors as method.
func invoke[Req, Resp any](ctx context.Context, i *intercepted, method string, in Req, h func(context.Context, Req) (Resp, error)) (Resp, error) {
	var zero Resp
	resp, err := i.unary(ctx, in, &grpc.UnaryServerInfo{Server: i.svc, FullMethod: method},
		func(ctx context.Context, req any) (any, error) { return h(ctx, req.(Req)) })
	if err != nil {
		return zero, err
	}
	r, ok := resp.(Resp)
	if !ok {
		return zero, status.Errorf(codes.Internal, "%s: unexpected response type %T", method, resp)
	}
	return r, nil
}

// chainUnary runs interceptors in order, the first outermost.
func chainUnary(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		for n := len(ics) - 1; n >= 0; n-- {
			ic, next := ics[n], h
			h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
		}
		return h(ctx, req)
	}
}
