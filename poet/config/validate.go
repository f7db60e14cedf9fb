package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/poet-operator/poet-operator/poet/identity"
)

// OptionError is one invalid option; it matches ErrInvalid.
type OptionError struct {
	// Option is the flag ("--pow-difficulty") or environment variable.
	Option string
	// Value is the offending value as given, or "" when it is not shown.
	Value string
	// Reason says what a valid value is.
	Reason string
}

// Error reads like "--pow-difficulty 300: must be 0..256".
func (e *OptionError) Error() string {
	if e.Value == "" {
		return e.Option + ": " + e.Reason
	}
	return e.Option + " " + e.Value + ": " + e.Reason
}

// Is reports whether target is ErrInvalid.
func (e *OptionError) Is(target error) bool { return target == ErrInvalid }

// The genesis times the round arithmetic can count from: time.Duration and Unix
// nanoseconds are 64-bit, about ±292 years. Outside this range the distance to
// genesis overflows (a genesis before 1733 made the engine close ~250 rounds a second)
// or timestamps cannot be encoded (year 9999 broke /status).
var (
	minGenesis = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxGenesis = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate checks every option and returns all problems found, joined, each an
// *OptionError naming its flag.
func (c *Config) Validate() error {
	var errs []error
	bad := func(option string, value any, format string, args ...any) {
		v := ""
		if value != nil {
			v = fmt.Sprint(value)
		}
		errs = append(errs, &OptionError{Option: option, Value: v, Reason: fmt.Sprintf(format, args...)})
	}
	c.validateGeneral(bad)
	c.Round.validate(bad)
	c.Registration.validate(bad)
	c.Service.validate(bad)
	if c.PrivateKey != "" {
		if _, err := identity.ParseKey(string(c.PrivateKey)); err != nil {
			bad(identity.EnvVar, nil, "%v", err)
		}
	}
	return errors.Join(errs...)
}

// badFunc records one refused option.
type badFunc func(option string, value any, format string, args ...any)

// validateGeneral checks the top-level options: genesis, directories, listeners and
// limits.
func (c *Config) validateGeneral(bad badFunc) {
	if g := c.Genesis.Time(); g.Before(minGenesis) || !g.Before(maxGenesis) {
		bad("--genesis-time", g.UTC().Format(time.RFC3339), "must be from %s to before %s: rounds are counted in 64-bit nanoseconds",
			minGenesis.Format(time.DateOnly), maxGenesis.Format(time.DateOnly))
	}
	for _, d := range []struct{ option, dir string }{
		{"--poetdir", c.PoetDir}, {"--datadir", c.DataDir}, {"--dbdir", c.DbDir}, {"--logdir", c.LogDir},
	} {
		if d.dir == "" {
			bad(d.option, nil, "must not be empty")
		}
	}
	if c.MaxLogFiles < 0 {
		bad("--maxlogfiles", c.MaxLogFiles, "must not be negative")
	}
	if c.MaxLogFileSize < 0 {
		bad("--maxlogfilesize", c.MaxLogFileSize, "must not be negative")
	}
	for _, l := range []struct{ option, addr string }{
		{"--config-rpclisten", c.ConfigRPCListener}, {"--rpclisten", c.RawRPCListener}, {"--restlisten", c.RawRESTListener},
	} {
		if err := checkListenAddr(l.addr); err != nil {
			bad(l.option, strconv.Quote(l.addr), "%v", err)
		}
	}
	if c.MaxGrpcRespSize <= 0 {
		bad("--max-grpc-resp-size", c.MaxGrpcRespSize, "must be positive")
	}
	if c.Profile != "" {
		if p, err := strconv.ParseUint(c.Profile, 10, 16); err != nil || p < 1024 {
			bad("--profile", strconv.Quote(c.Profile), "must be a port number between 1024 and 65535")
		}
	}
	if c.MaxRequestBytes <= 0 {
		bad("--max-request-bytes", c.MaxRequestBytes, "must be positive")
	}
	if c.GRPCMaxMsgSize <= 0 {
		bad("--grpc-max-msg-size", c.GRPCMaxMsgSize, "must be positive")
	}
	if c.GRPCMaxRecvMsgSize <= 0 {
		bad("--grpc-max-recv-msg-size", c.GRPCMaxRecvMsgSize, "must be positive")
	}
	if c.MaxConns < 0 {
		bad("--max-conns", c.MaxConns, "must be 0 (no limit) or positive")
	}
	if c.MaxConnsPerIP < 0 {
		bad("--max-conns-per-ip", c.MaxConnsPerIP, "must be 0 (no limit) or positive")
	}
	if c.ShutdownTimeout <= 0 {
		bad("--shutdown-timeout", c.ShutdownTimeout, "must be positive")
	}
}

func (r RoundConfig) validate(bad badFunc) {
	if r.EpochDuration <= 0 {
		bad("--epoch-duration", r.EpochDuration, "must be positive")
	}
	if r.PhaseShift < 0 || (r.EpochDuration > 0 && r.PhaseShift >= r.EpochDuration) {
		bad("--phase-shift", r.PhaseShift, "must be at least 0 and less than --epoch-duration %s", r.EpochDuration)
	}
	if r.CycleGap < 0 || (r.EpochDuration > 0 && r.CycleGap >= r.EpochDuration) {
		bad("--cycle-gap", r.CycleGap, "must be at least 0 and less than --epoch-duration %s", r.EpochDuration)
	}
}

func (g RegistrationConfig) validate(bad badFunc) {
	if g.PowDifficulty > 256 {
		bad("--pow-difficulty", g.PowDifficulty, "must be 0..256")
	}
	if g.MaxRoundMembers == 0 {
		bad("--max-round-members", g.MaxRoundMembers, "must be positive")
	}
	if g.MaxSubmitBatchSize <= 0 {
		bad("--max-submit-batch-size", g.MaxSubmitBatchSize, "must be positive")
	}
	if g.SubmitFlushInterval < 0 {
		bad("--submit-flush-interval", g.SubmitFlushInterval, "must not be negative")
	}
	if _, err := url.Parse(g.Certifier.URL); err != nil {
		bad("--certifier-url", strconv.Quote(g.Certifier.URL), "%v", errors.Unwrap(err))
	}
	if n := len(g.Certifier.PubKey); n != 0 && n != ed25519.PublicKeySize {
		bad("--certifier-pubkey", nil, "decodes to %d bytes, want an ed25519 public key of %d", n, ed25519.PublicKeySize)
	}
}

func (s ServiceConfig) validate(bad badFunc) {
	if s.EstimatedLeavesPerSecond == 0 {
		bad("--lps", s.EstimatedLeavesPerSecond, "must be positive")
	}
	if s.MemoryLayers > 63 {
		bad("--memory", s.MemoryLayers, "must be 0..63")
	}
	if s.TreeFileBufferSize < 32 {
		bad("--tree-file-buffer", s.TreeFileBufferSize, "must be at least 32 (one tree node)")
	}
	if s.CheckpointInterval <= 0 {
		bad("--checkpoint-interval", s.CheckpointInterval, "must be positive")
	}
	if s.ProverCPU < -1 {
		bad("--prover-cpu", s.ProverCPU, "must be a CPU number, or -1 to choose one")
	}
	if (s.ProverSched == "fifo" || s.ProverSched == "rr") && (s.ProverPriority < 1 || s.ProverPriority > 99) {
		bad("--prover-priority", s.ProverPriority, "must be 1..99 with --prover-sched %s", s.ProverSched)
	}
	if s.Calibration < 0 {
		bad("--calibrate", s.Calibration, "must be 0 (off) or positive")
	}
	if s.CPULimitMillis < 0 {
		bad("--cpu-limit-millis", s.CPULimitMillis, "must not be negative")
	}
}

// checkListenAddr accepts what net.ResolveTCPAddr would, without resolving:
// host:port with a non-empty port ("localhost:8080", ":8080", "[::1]:0").
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var aerr *net.AddrError
		if errors.As(err, &aerr) {
			return fmt.Errorf("must be host:port: %s", aerr.Err)
		}
		return fmt.Errorf("must be host:port: %w", err)
	}
	if port == "" {
		return errors.New("must be host:port: missing port")
	}
	return nil
}
