package registration

import (
	"errors"
	"fmt"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// ErrInvalidProof reports a proof that does not prove its round: the PoSW verifier
// rejects it for the statement of its members and its leaf count.
var ErrInvalidProof = errors.New("invalid proof")

// VerifyProof checks a finished round as a node will: the statement is the membership
// root of p.Members, the PoSW proof must verify for it with p.Leaves leaves (which opens
// the Fiat–Shamir indices of exactly that count), and there must be at least posw.T
// leaves. The one proof accepted without a PoSW is the empty one of a round that did not
// run one (--disable-worker, as the reference publishes): no root, no leaves.
func VerifyProof(p *StoredProof) error {
	pr := &p.Proof
	if p.Leaves == 0 && len(pr.Root) == 0 && len(pr.ProvenLeaves) == 0 && len(pr.ProofNodes) == 0 {
		return nil
	}
	if p.Leaves < posw.T {
		return fmt.Errorf("%w of round %d: %d leaves, at least %d", ErrInvalidProof, p.Round, p.Leaves, posw.T)
	}
	stmt := MembershipRoot(p.Members)
	if err := posw.Verify(stmt, pr, p.Leaves); err != nil {
		return fmt.Errorf("%w of round %d (%d members, %d leaves): %w", ErrInvalidProof, p.Round, len(p.Members), p.Leaves, err)
	}
	return nil
}
