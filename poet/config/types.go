package config

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"
)

// Genesis is the genesis time, parsed from RFC 3339 (fractional seconds allowed).
type Genesis time.Time

// UnmarshalFlag parses an RFC 3339 time for go-flags.
func (g *Genesis) UnmarshalFlag(value string) error {
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return fmt.Errorf("parsing %q as an RFC 3339 time: %w", value, err)
	}
	*g = Genesis(t)
	return nil
}

// MarshalFlag formats the time as RFC 3339 with nanoseconds.
func (g Genesis) MarshalFlag() (string, error) {
	return time.Time(g).Format(time.RFC3339Nano), nil
}

// Time is the genesis as a time.Time.
func (g Genesis) Time() time.Time {
	return time.Time(g)
}

// Base64 is bytes given in standard base64.
type Base64 []byte

// UnmarshalFlag decodes standard base64 for go-flags.
func (b *Base64) UnmarshalFlag(value string) error {
	v, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return fmt.Errorf("decoding base64: %w", err)
	}
	*b = v
	return nil
}

// MarshalFlag encodes as standard base64.
func (b Base64) MarshalFlag() (string, error) {
	return base64.StdEncoding.EncodeToString(b), nil
}

// Secret is a value that must not appear in logs or printed configurations.
// Use string(s) for the value itself.
type Secret string

const redacted = "[redacted]"

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText hides the value from encoders such as encoding/json.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
