// Package proofcodec holds every encoding of a proof, each written once:
//
//   - json.go: the JSON body of the REST GET /v1/proofs/{round}, which poet_bench's
//     proof files hold too;
//   - xdr.go: XDR (RFC 4506) as the reference writes it, the proof inside a round's
//     state.bin and the reference's proofs database record (proofData);
//   - stored.go: the record of the registry's proofs bucket in registrations.db.
//
// The XDR and stored forms are on disk: their bytes never change, and the tests pin
// them.
package proofcodec
