package registration

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func TestRIPEMD256KnownAnswers(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		// The two vectors reference-poet.md §0 quotes for the reference's library.
		{"", "02ba4c4e5f8ecd1877fc52d64d30e37a2d9774fb1e5d026380ae0168e3c5522d"},
		{"abc", "afbd6e228b9d8cbbcef5ca2d03e6dba10ac0bc7dcbe4680e1e42d2e975459b65"},
		// The RIPEMD authors' published test vectors for RIPEMD-256.
		{"a", "f9333e45d857f5d90a91bab70a1eba0cfb1be4b0783c9acfcd883a9134692925"},
		{"message digest", "87e971759a1ce47a514d5c914c392c9018c7c46bc14465554afcdf54a5070c0e"},
		{"abcdefghijklmnopqrstuvwxyz", "649d3034751ea216776bf9a18acc81bc7896118a5197968782dd1fd97d8d5133"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "3843045583aac6c8c8d9128573e7a9809afb2a0f34ccc36ea9e72f16f6368e3f"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "5740a408ac16b720b84424ae931cbb1fe363d1d0bf4017f1a89f7ea6de77a0b8"},
		{strings.Repeat("1234567890", 8), "06fdcc7a409548aaf91368c06a6275b553e3f099bf0ea4edfd6778df89a890dd"},
	}
	for _, tt := range tests {
		got := ripemd256([]byte(tt.in))
		if hex.EncodeToString(got[:]) != tt.want {
			t.Errorf("ripemd256(%q) = %x, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRIPEMD256MillionA(t *testing.T) {
	if testing.Short() {
		t.Skip("long input")
	}
	got := ripemd256([]byte(strings.Repeat("a", 1_000_000)))
	const want = "ac953744e10e31514c150d4d8d7b677342e33399788296e43ae4850ce4f97978"
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("ripemd256(a×10⁶) = %x, want %s", got, want)
	}
}

// Lengths 0..200 cross every padding boundary (55, 56, 63, 64 bytes and their
// multiples). The expected value is the RIPEMD-256 of the 201 concatenated digests of
// n×byte(n), computed with the reference's library (github.com/c0mm4nd/go-ripemd).
func TestRIPEMD256AllLengthsAgainstReference(t *testing.T) {
	var chain []byte
	for n := 0; n <= 200; n++ {
		d := ripemd256(bytes.Repeat([]byte{byte(n)}, n))
		chain = append(chain, d[:]...)
	}
	got := ripemd256(chain)
	const want = "a8f666c166f63eb92ce71e8151833d830d45e5146bd5e4c05623f9aeab969bbd"
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("digest chain = %x, want %s", got, want)
	}
}
