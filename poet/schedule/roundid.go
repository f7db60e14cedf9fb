package schedule

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidRoundID reports a round ID that is not a canonical decimal uint64.
var ErrInvalidRoundID = errors.New("invalid round id")

// RoundID is the reference's name for round n: its decimal form, as
// strconv.FormatUint writes it. It keys the proofs and names round directories.
func RoundID(n uint64) string {
	return strconv.FormatUint(n, 10)
}

// ParseRoundID is the inverse of RoundID. It accepts only what RoundID writes:
// ASCII digits without sign, spaces or leading zeros ("0" itself is fine), in
// range of uint64, so that a parsed ID names the same key the reference stores.
func ParseRoundID(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrInvalidRoundID)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w %q: not a decimal number", ErrInvalidRoundID, clip(s))
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%w %q: leading zero", ErrInvalidRoundID, clip(s))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: out of range", ErrInvalidRoundID, clip(s))
	}
	return n, nil
}

// clip shortens client-supplied text quoted in an error.
func clip(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
