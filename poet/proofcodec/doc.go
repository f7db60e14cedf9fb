// Package proofcodec holds every encoding of a proof, each written once:
//
//   - xdr.go: XDR (RFC 4506) as the reference writes it, the proof inside a round's
//     state.bin and the reference's proofs database record (proofData);
//   - stored.go: the record of the registry's proofs bucket in registrations.db;
//   - proofjson/: the JSON body of the REST GET /v1/proofs/{round}, which poet_bench's
//     proof files hold too. It is the one encoding that needs the API's protobuf types,
//     and it sits in a subpackage so that this one stays free of them (see there).
//
// The XDR and stored forms are on disk: their bytes never change, and the tests pin
// them.
package proofcodec
