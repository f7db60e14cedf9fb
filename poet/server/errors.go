package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/poet-operator/poet-operator/poet/registration"
)

// toStatus maps a domain error to the gRPC status the reference returns (its
// rpc/rpcserver.go); the REST gateway turns the code into the HTTP status. This is the
// only place that knows the mapping.
func toStatus(err error, log *slog.Logger, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registration.ErrInvalidPublicKey),
		errors.Is(err, registration.ErrInvalidSignature),
		errors.Is(err, registration.ErrInvalidChallenge),
		errors.Is(err, registration.ErrInvalidHint),
		errors.Is(err, registration.ErrInvalidPowParams),
		errors.Is(err, registration.ErrInvalidPow):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, registration.ErrInvalidCertificate):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, registration.ErrTooLate):
		return status.Error(codes.FailedPrecondition, registration.ErrTooLate.Error())
	case errors.Is(err, registration.ErrMaxMembers):
		return status.Error(codes.ResourceExhausted, registration.ErrMaxMembers.Error())
	case errors.Is(err, registration.ErrConflictingRegistration):
		return status.Error(codes.AlreadyExists, registration.ErrConflictingRegistration.Error())
	case errors.Is(err, registration.ErrProofNotFound):
		return status.Error(codes.NotFound, registration.ErrProofNotFound.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "request deadline exceeded")
	}
	log.Error(what+" failed", "error", err)
	return status.Error(codes.Internal, "unknown error "+what)
}
