// Package registration accepts members into PoET rounds: it checks signatures, proof of
// work and certificates, stores registrations durably with group commit, computes each
// round's membership root, and keeps finished proofs.
package registration

import (
	"errors"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// PowParams are the proof-of-work parameters a registration must use.
type PowParams struct {
	// Difficulty is the number of leading zero bits the PoW hash needs.
	Difficulty uint32
	// Challenge is mixed into the PoW hash; it rotates with each published proof.
	Challenge []byte
}

// Certificate is a certifier's SCALE-encoded CertOnWire and its ed25519 signature.
type Certificate struct {
	Data      []byte
	Signature []byte
}

// SubmitRequest is a node's registration, as the API receives it.
type SubmitRequest struct {
	// Prefix is signed with the challenge: genesis ID ‖ 0x04 for go-spacemesh.
	Prefix []byte
	// Challenge is the node's 32-byte challenge.
	Challenge []byte
	// NodeID is the node's ed25519 public key.
	NodeID []byte
	// Signature is the node's signature over Prefix ‖ Challenge.
	Signature []byte
	// Deadline, when set, is the latest end of the round the node can use.
	Deadline time.Time
	// Nonce and PowParams are the proof of work, used when there is no certificate.
	Nonce     uint64
	PowParams *PowParams
	// Certificate, when set, replaces the proof of work.
	Certificate *Certificate
	// CertificatePubkeyHint selects trusted certifier keys by their first 4 bytes.
	CertificatePubkeyHint []byte
}

// StoredProof is a finished round as it is published.
type StoredProof struct {
	Round   uint64
	Proof   posw.Proof
	Members [][]byte
	Leaves  uint64
}

// Errors a registration is refused with. The API maps each to its status code in one
// place (poet/server/errors.go); wrapped errors carry the detail.
var (
	ErrInvalidPublicKey        = errors.New("invalid public key")
	ErrInvalidSignature        = errors.New("invalid signature")
	ErrInvalidChallenge        = errors.New("invalid challenge")
	ErrInvalidHint             = errors.New("invalid certificate public key hint")
	ErrInvalidCertificate      = errors.New("invalid certificate")
	ErrInvalidPowParams        = errors.New("invalid proof of work parameters")
	ErrInvalidPow              = errors.New("invalid proof of work")
	ErrTooLate                 = errors.New("too late to register for the desired round")
	ErrMaxMembers              = errors.New("maximum number of round members reached")
	ErrConflictingRegistration = errors.New("conflicting registration")
	ErrProofNotFound           = errors.New("proof not found")
	ErrClosed                  = errors.New("registry closed")
	// ErrTrustedKeysDirNotSet answers a trusted-keys reload when no directory is configured.
	ErrTrustedKeysDirNotSet = errors.New("trusted keys directory is not configured")
)
