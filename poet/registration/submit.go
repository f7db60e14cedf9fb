package registration

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Submit registers req.NodeID with req.Challenge in the open round and returns that
// round once the registration is durable. The checks run in the reference's order
// (reference-poet.md §1.3): public key, signature, challenge length (ours: it must be
// 32 bytes, as every member is), hint, then the certificate (when the request has one
// and certificates are configured) or else the proof of work, then the deadline, then
// duplicates, then the member limit. Resubmitting the same challenge is idempotent, even
// into a full round; a different challenge from the same node in the same round is
// ErrConflictingRegistration. If ctx ends while the commit is pending, Submit returns
// ctx's error and the registration may still become durable.
func (r *Registry) Submit(ctx context.Context, req SubmitRequest) (round uint64, err error) {
	if err := r.authorize(&req); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	round, b, err := r.enqueue(&req)
	if err != nil || b == nil {
		return round, err
	}
	if err := r.wait(ctx, b); err != nil {
		return 0, err
	}
	return round, nil
}

// authorize runs the stateless checks: everything before the deadline.
func (r *Registry) authorize(req *SubmitRequest) error {
	if len(req.NodeID) != nodeIDSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalidPublicKey, len(req.NodeID), nodeIDSize)
	}
	msg := make([]byte, 0, len(req.Prefix)+len(req.Challenge))
	msg = append(append(msg, req.Prefix...), req.Challenge...)
	if !ed25519.Verify(req.NodeID, msg, req.Signature) {
		return ErrInvalidSignature
	}
	if len(req.Challenge) != challengeSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalidChallenge, len(req.Challenge), challengeSize)
	}
	if req.CertificatePubkeyHint != nil && len(req.CertificatePubkeyHint) != certKeyHintSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalidHint, len(req.CertificatePubkeyHint), certKeyHintSize)
	}
	if req.Certificate != nil && r.cfg.certificatesEnabled() {
		err := r.verifyCert(req)
		switch {
		case err == nil:
			r.m.withCert.WithLabelValues("valid").Inc()
			return nil
		case errors.Is(err, errCertExpired):
			r.m.withCert.WithLabelValues("expired").Inc()
		default:
			r.m.withCert.WithLabelValues("invalid").Inc()
		}
		return fmt.Errorf("%w: %w", ErrInvalidCertificate, err)
	}
	cur, prev := r.powParams()
	if err := verifyPow(cur, prev, req); err != nil {
		r.m.withPow.WithLabelValues("invalid").Inc()
		return err
	}
	r.m.withPow.WithLabelValues("valid").Inc()
	return nil
}

// verifyCert checks the certificate against the keys the hint selects: without a hint
// only the configured certifier key, with one every trusted key starting with it. If no
// key accepts it, the cause is that of a key whose signature matched (the certificate's
// own fault: pubkey, expiry, encoding), else a signature mismatch.
func (r *Registry) verifyCert(req *SubmitRequest) error {
	keys := r.keys.Load()
	var candidates []ed25519.PublicKey
	if req.CertificatePubkeyHint == nil {
		if keys.certifier != nil {
			candidates = []ed25519.PublicKey{keys.certifier}
		}
	} else {
		candidates = keys.byHint[[certKeyHintSize]byte(req.CertificatePubkeyHint)]
	}
	if len(candidates) == 0 {
		return errCertNoKeys
	}
	now := r.now()
	var cause error
	for _, key := range candidates {
		err := verifyCertificate(key, req.Certificate, req.NodeID, now)
		if err == nil {
			return nil
		}
		if cause == nil || errors.Is(cause, errCertSignature) {
			cause = err
		}
	}
	return cause
}

// enqueue runs the stateful checks and queues the registration. It returns the batch
// to wait for, or nil if the registration is durable already.
func (r *Registry) enqueue(req *SubmitRequest) (uint64, *batch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, nil, ErrClosed
	}
	round := r.openRoundLocked()
	if !req.Deadline.IsZero() {
		if end := r.sched.RoundEnd(round); end.After(req.Deadline) {
			return 0, nil, fmt.Errorf("%w: round %d ends at %s, after the deadline %s", ErrTooLate, round,
				end.UTC().Format(time.RFC3339Nano), req.Deadline.UTC().Format(time.RFC3339Nano))
		}
	}
	nodeID := [nodeIDSize]byte(req.NodeID)
	challenge := [challengeSize]byte(req.Challenge)
	st := r.round(round)
	if q, ok := st.queued[nodeID]; ok {
		if q.challenge != challenge {
			return 0, nil, fmt.Errorf("%w: node %x has another challenge in round %d", ErrConflictingRegistration, nodeID[:8], round)
		}
		return round, q.batch, nil
	}
	if st.committed > 0 {
		have, err := r.storedChallenge(round, nodeID[:])
		if err != nil {
			return 0, nil, err
		}
		if have != nil {
			if [challengeSize]byte(have) != challenge {
				return 0, nil, fmt.Errorf("%w: node %x has another challenge in round %d", ErrConflictingRegistration, nodeID[:8], round)
			}
			return round, nil, nil
		}
	}
	if st.committed+uint64(len(st.queued)) >= r.cfg.MaxRoundMembers {
		return 0, nil, fmt.Errorf("%w: round %d has %d", ErrMaxMembers, round, r.cfg.MaxRoundMembers)
	}
	if st.queued == nil {
		st.queued = make(map[[nodeIDSize]byte]queuedReg)
	}
	b := r.next
	st.queued[nodeID] = queuedReg{challenge: challenge, batch: b}
	b.regs = append(b.regs, pendingReg{round: round, nodeID: nodeID, challenge: challenge})
	return round, b, nil
}

// storedChallenge reads a durable registration; nil if there is none. Stored
// challenges are 32 bytes: Submit admits no others.
func (r *Registry) storedChallenge(round uint64, nodeID []byte) ([]byte, error) {
	var have []byte
	err := r.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketRounds).Bucket(roundKey(round)); b != nil {
			if v := b.Get(nodeID); v != nil {
				have = make([]byte, challengeSize)
				copy(have, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading registration in round %d: %w", round, err)
	}
	return have, nil
}

// wait returns once b is durable (its error if the commit failed) or ctx ends. Without
// Run, the caller commits the batch itself.
func (r *Registry) wait(ctx context.Context, b *batch) error {
	if !r.running.Load() {
		r.commitThrough(b)
		return b.err
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
