package schedule

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestRoundID(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{1234567890, "1234567890"},
		{math.MaxUint64, "18446744073709551615"},
	}
	for _, tt := range tests {
		if got := RoundID(tt.n); got != tt.want {
			t.Errorf("RoundID(%d) = %q, want %q", tt.n, got, tt.want)
		}
		if got, err := ParseRoundID(tt.want); err != nil || got != tt.n {
			t.Errorf("ParseRoundID(%q) = %d, %v; want %d", tt.want, got, err, tt.n)
		}
	}
}

func TestParseRoundIDRejects(t *testing.T) {
	tests := []struct {
		in, why string
	}{
		{"", "empty"},
		{"+1", "not a decimal number"},
		{"-1", "not a decimal number"},
		{" 1", "not a decimal number"},
		{"1 ", "not a decimal number"},
		{"1\n", "not a decimal number"},
		{"0x10", "not a decimal number"},
		{"1_000", "not a decimal number"},
		{"1e3", "not a decimal number"},
		{"١", "not a decimal number"}, // Arabic-Indic digit one
		{"01", "leading zero"},
		{"00", "leading zero"},
		{"18446744073709551616", "out of range"},
		{"99999999999999999999999", "out of range"},
		{strings.Repeat("9", 1000), "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseRoundID(tt.in)
			if !errors.Is(err, ErrInvalidRoundID) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseRoundID(%q) = %d, %v; want ErrInvalidRoundID (%s)", tt.in, n, err, tt.why)
			}
			if len(err.Error()) > 100 {
				t.Errorf("error quotes too much input: %d bytes", len(err.Error()))
			}
		})
	}
}

func FuzzParseRoundID(f *testing.F) {
	for _, s := range []string{"0", "1", "42", "18446744073709551615", "18446744073709551616", "", "-0", "+7", "007", " 3", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseRoundID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRoundID) {
				t.Fatalf("ParseRoundID(%q) error %v is not ErrInvalidRoundID", s, err)
			}
			if std, serr := strconv.ParseUint(s, 10, 64); serr == nil && strconv.FormatUint(std, 10) == s {
				t.Fatalf("ParseRoundID(%q) rejected a canonical round id: %v", s, err)
			}
			return
		}
		if RoundID(n) != s {
			t.Fatalf("ParseRoundID(%q) = %d, which formats as %q", s, n, RoundID(n))
		}
	})
}
