package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poet-operator/poet-operator/poet/registration"
)

// toStatus maps a domain error to the gRPC status the reference returns
// (rpc/rpcserver.go, reference-poet.md §1.3); the REST gateway turns the code into the
// HTTP status (400, 401, 429, 409, 400, 404, 499, 500). It maps every error of the
// domain (registration, proofs, rounds); the transport's own refusals are made where
// they happen: a REST body over the limit (ResourceExhausted) or unreadable
// (InvalidArgument) in rest.go, the configuration service's reload failure (Unknown, as
// the reference) and an impossible response type (Internal) in service.go. what names
// the call for the Internal message ("submitting challenge"
// gives the reference's "unknown error submitting challenge"); the cause of an Internal
// error is logged, never sent.
func toStatus(err error, log *slog.Logger, what string) error {
	switch {
	case err == nil:
		return nil
	// Checked before registration, in this order, by the reference; the message starts
	// with the reference's and may add the detail ("invalid public key: 31 bytes, want 32").
	case errors.Is(err, registration.ErrInvalidChallenge),
		errors.Is(err, registration.ErrInvalidPublicKey),
		errors.Is(err, registration.ErrInvalidSignature),
		errors.Is(err, registration.ErrInvalidHint),
		errors.Is(err, registration.ErrInvalidPow),
		errors.Is(err, registration.ErrInvalidPowParams):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, registration.ErrInvalidCertificate):
		return status.Error(codes.Unauthenticated, certificateMessage(err))
	case errors.Is(err, registration.ErrMaxMembers):
		return status.Error(codes.ResourceExhausted, registration.ErrMaxMembers.Error())
	case errors.Is(err, registration.ErrConflictingRegistration):
		return status.Error(codes.AlreadyExists, registration.ErrConflictingRegistration.Error())
	case errors.Is(err, registration.ErrTooLate):
		return status.Error(codes.FailedPrecondition, registration.ErrTooLate.Error())
	case errors.Is(err, registration.ErrProofNotFound):
		return status.Error(codes.NotFound, registration.ErrProofNotFound.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, context.Canceled.Error())
	}
	log.Error("unknown error "+what, "error", err)
	return status.Error(codes.Internal, "unknown error "+what)
}

// certificateMessage renders a certificate failure as the reference does, the sentinel
// and its cause on two lines ("invalid certificate\nsignature mismatch"): the reference
// joins them with errors.Join, the registry wraps them with "%w: %w".
func certificateMessage(err error) string {
	head := registration.ErrInvalidCertificate.Error()
	msg := err.Error()
	if cause, ok := strings.CutPrefix(msg, head+": "); ok {
		return head + "\n" + cause
	}
	return msg
}
