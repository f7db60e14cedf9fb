package registration

import (
	"encoding/hex"
	"errors"
	"testing"
)

// reference-poet.md §4.
func TestPowHashKnownAnswers(t *testing.T) {
	powCh, nodeID, poetCh := repeat(0x02), repeat(0x01), repeat(0x03)
	h := powHash(powCh, nodeID, poetCh, 0)
	if got := hex.EncodeToString(h[:]); got != "e4623b79b9ffa6abc5da681b516ccbb67a6e421d229ed62fbcea07bc318dfc84" {
		t.Errorf("nonce 0: %s", got)
	}
	nonce, err := FindNonce(powCh, nodeID, poetCh, 8)
	if err != nil || nonce != 130 {
		t.Errorf("first nonce meeting difficulty 8 = %d (%v), want 130", nonce, err)
	}
	h = powHash(powCh, nodeID, poetCh, nonce)
	if got := hex.EncodeToString(h[:]); got != "00aa2e4b0eb886f5b706ead9a2187f827f60371b75f832a0e519b58636c9fded" {
		t.Errorf("nonce 130: %s", got)
	}
}

func TestLeadingZeroBits(t *testing.T) {
	h := make([]byte, 32)
	h[2] = 0x10 // 19 leading zero bits
	tests := []struct {
		d    uint32
		want bool
	}{
		{0, true}, {8, true}, {16, true}, {19, true}, {20, false}, {24, false},
		{256, false}, {257, false}, {1 << 31, false},
	}
	for _, tt := range tests {
		if got := leadingZeroBits(h, tt.d); got != tt.want {
			t.Errorf("d=%d: %v, want %v", tt.d, got, tt.want)
		}
	}
	zero := make([]byte, 32)
	if !leadingZeroBits(zero, 256) || leadingZeroBits(zero, 257) {
		t.Error("an all-zero hash meets 256 bits and nothing beyond")
	}
	if !leadingZeroBits([]byte{0x7f}, 1) || leadingZeroBits([]byte{0x80}, 1) {
		t.Error("bit order is most significant first")
	}
}

func TestVerifyPow(t *testing.T) {
	cur := PowParams{Difficulty: 8, Challenge: repeat(0x02)}
	prev := PowParams{Difficulty: 8, Challenge: repeat(0x09)}
	req := &SubmitRequest{NodeID: repeat(0x01), Challenge: repeat(0x03), Nonce: 130, PowParams: &cur}
	if err := verifyPow(cur, nil, req); err != nil {
		t.Fatalf("valid PoW: %v", err)
	}
	req.Nonce = 0
	if err := verifyPow(cur, nil, req); !errors.Is(err, ErrInvalidPow) {
		t.Fatalf("bad nonce: %v", err)
	}
	req.PowParams = &PowParams{Difficulty: 7, Challenge: repeat(0x02)}
	if err := verifyPow(cur, &prev, req); !errors.Is(err, ErrInvalidPowParams) {
		t.Fatalf("other difficulty: %v", err)
	}
	req.PowParams = nil
	if err := verifyPow(cur, &prev, req); !errors.Is(err, ErrInvalidPowParams) {
		t.Fatalf("no params: %v", err)
	}
	req.PowParams = &PowParams{Difficulty: 0, Challenge: repeat(0x09)}
	zero := PowParams{Difficulty: 0, Challenge: repeat(0x09)}
	if err := verifyPow(cur, &zero, req); err != nil {
		t.Fatalf("previous params: %v", err)
	}
}

func TestCheckPow(t *testing.T) {
	pow, node, ch := repeat(0x02), repeat(0x01), repeat(0x03)
	first := uint64(0)
	for !CheckPow(pow, node, ch, first, 8) {
		first++
	}
	if first != 130 {
		t.Fatalf("first nonce at difficulty 8 is %d, want 130", first)
	}
	if !CheckPow(pow, node, ch, 0, 0) || CheckPow(pow, node, ch, 0, 257) {
		t.Fatal("difficulty 0 must pass and 257 fail")
	}
}

// FindNonce gives the smallest solving nonce, the one a node sends.
func TestFindNonceIsTheSmallest(t *testing.T) {
	nodeID, poetCh := repeat(0x05), repeat(0x06)
	powCh := []byte("pow challenge")
	n, err := FindNonce(powCh, nodeID, poetCh, 8)
	if err != nil || !CheckPow(powCh, nodeID, poetCh, n, 8) {
		t.Fatalf("nonce %d (%v) does not meet difficulty 8", n, err)
	}
	for k := uint64(0); k < n; k++ {
		if CheckPow(powCh, nodeID, poetCh, k, 8) {
			t.Fatalf("nonce %d is smaller than %d and passes: not the node's search order", k, n)
		}
	}
	if n, err := FindNonce(powCh, nodeID, poetCh, 0); err != nil || n != 0 {
		t.Errorf("difficulty 0: nonce %d (%v), want 0", n, err)
	}
	if _, err := FindNonce(powCh, nodeID, poetCh, maxPowDifficulty+1); !errors.Is(err, ErrInvalidPowParams) {
		t.Errorf("difficulty %d: %v, want ErrInvalidPowParams", maxPowDifficulty+1, err)
	}
}
