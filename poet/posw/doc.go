// Package posw is the proof of sequential work of a PoET round, byte-compatible with
// spacemeshos/poet: labels, Merkle nodes, the Fiat-Shamir challenge, proofs and their
// verifier. It does no I/O; the prover package runs a round on disk with it.
//
// A label is SHA-256 applied LabelHashes times, starting from stmt ‖ BE64(i) ‖ S_i,
// where S_i are the parked nodes (the roots of the complete left subtrees to the left
// of leaf i) in ascending height. A Merkle node is SHA-256(stmt ‖ left ‖ right), with
// 32 zero bytes standing in for a missing right child at every height.
package posw
