// Package config is the PoET service's configuration: the reference's
// (spacemeshos/poet v0.10.12) command-line flags, INI config-file keys,
// defaults and POET_PRIVATE_KEY, parsed with the same library (go-flags), plus
// a few options of our own, each marked as such in its description.
//
// A config file may put keys at the top (as both reference samples do), under
// [Application Options], or under the group the option belongs to: [Round],
// [Registration] or [Service]. Keys are the long flag names (or, as go-flags
// allows, the Go field names, which follow the reference's). Flags on the
// command line override the file.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jessevdk/go-flags"

	"github.com/poet-operator/poet-operator/poet/cpuinfo"
	"github.com/poet-operator/poet-operator/poet/identity"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Names of the directories under PoetDir that DataDir, DBDir and LogDir
// default to.
const (
	DataDirName = "data"
	DBDirName   = "db"
	LogDirName  = "logs"
)

var (
	// ErrHelp is matched by the *HelpError Load returns for --help.
	ErrHelp = errors.New("help requested")
	// ErrVersion is returned by Load for --version: print the version and exit.
	ErrVersion = errors.New("version requested")
	// ErrInvalid is matched by every error Validate returns.
	ErrInvalid = errors.New("invalid configuration")
)

// Config is the service's configuration. The `default` tags and Default hold
// the defaults; Load fills a Config from flags, a config file and the
// environment. Field names follow the reference's, so that an INI key written
// as a Go field name works too.
type Config struct {
	// Genesis is the instant the round schedule counts from.
	Genesis Genesis `long:"genesis-time" description:"Genesis timestamp in RFC 3339 format" default-mask:"now (process start)"`
	// PoetDir is the base directory of DataDir, DBDir and LogDir when those are not set.
	PoetDir string `long:"poetdir" description:"The base directory of poet's data, databases and logs"`
	// ConfigFile is an INI file read after the flags; flags take precedence.
	ConfigFile string `long:"configfile" short:"c" description:"Path to an INI configuration file"`
	// DataDir holds state.bin (the service key), rounds/ and round.tid.
	DataDir string `long:"datadir" short:"b" description:"The directory for poet's data" default-mask:"<poetdir>/data"`
	// DbDir holds the registration and proof databases.
	DbDir string `long:"dbdir" description:"The directory for databases" default-mask:"<poetdir>/db"`
	// LogDir is accepted for compatibility and not written to: logs go to stderr (for
	// journald or the container runtime).
	LogDir string `long:"logdir" description:"Accepted for compatibility; nothing is written there (logs go to stderr)" default-mask:"<poetdir>/logs"`
	// DebugLog lowers the log level to debug.
	DebugLog bool `long:"debuglog" description:"Enable debug logs"`
	// JSONLog switches the log format to JSON.
	JSONLog bool `long:"jsonlog" description:"Log in JSON format"`
	// MaxLogFiles is accepted for compatibility; the reference does not use it.
	MaxLogFiles int `long:"maxlogfiles" default:"3" description:"Maximum number of log files to keep (0 for no rotation)"`
	// MaxLogFileSize is accepted for compatibility; the reference does not use it.
	MaxLogFileSize int `long:"maxlogfilesize" default:"10" description:"Maximum log file size in MB"`
	// ConfigRPCListener is the address of the ConfigurationService gRPC listener.
	ConfigRPCListener string `long:"config-rpclisten" default:"localhost:50001" description:"The host:port the configuration gRPC service listens on"`
	// RawRPCListener is the address of the PoetService gRPC listener.
	RawRPCListener string `long:"rpclisten" short:"r" default:"localhost:50002" description:"The host:port the gRPC service listens on"`
	// RawRESTListener is the address of the REST gateway.
	RawRESTListener string `long:"restlisten" short:"w" default:"localhost:8080" description:"The host:port the REST gateway listens on"`
	// MetricsPort, when set, serves /metrics on all interfaces at this port.
	MetricsPort *uint16 `long:"metrics-port" description:"The port to serve Prometheus metrics on, on all interfaces" default-mask:"disabled"`
	// MaxGrpcRespSize is the reference's limit on a gRPC response its REST gateway
	// receives. Accepted so reference configurations load; unused, because the gateway
	// here calls the service in-process and proofs are served from their rendered JSON.
	MaxGrpcRespSize int `long:"max-grpc-resp-size" default:"8388608" description:"Accepted for compatibility with the reference's configuration; unused: no REST response is limited"`
	// CPUProfile, when set, is a file to write a CPU profile to.
	CPUProfile string `long:"cpuprofile" description:"Write a CPU profile to this file"`
	// Profile, when set, is the port of an HTTP pprof server.
	Profile string `long:"profile" description:"Serve HTTP profiling on this port (1024-65535)" default-mask:"disabled"`
	// MaxRequestBytes limits a REST request body (our addition).
	MaxRequestBytes int64 `long:"max-request-bytes" default:"1048576" description:"Maximum size in bytes of a REST request body (not in the reference)"`
	// GRPCMaxMsgSize limits a gRPC message the service sends (our addition).
	GRPCMaxMsgSize int `long:"grpc-max-msg-size" default:"268435456" description:"Maximum size in bytes of a gRPC message sent, e.g. a finished proof (not in the reference)"`
	// GRPCMaxRecvMsgSize limits a gRPC message the service receives (our addition).
	GRPCMaxRecvMsgSize int `long:"grpc-max-recv-msg-size" default:"4194304" description:"Maximum size in bytes of a gRPC message received; the reference's limit is 4 MiB (not in the reference)"`
	// MaxConns limits each listener's open connections (our addition).
	MaxConns int `long:"max-conns" default:"4096" description:"Maximum open connections on each listener, 0 for no limit (not in the reference)"`
	// MaxConnsPerIP limits each listener's open connections from one address (our addition).
	MaxConnsPerIP int `long:"max-conns-per-ip" default:"256" description:"Maximum open connections from one client address on each listener, 0 for no limit, e.g. behind a proxy that funnels all clients (not in the reference)"`
	// ShutdownTimeout bounds a graceful shutdown (our addition).
	ShutdownTimeout time.Duration `long:"shutdown-timeout" default:"20s" description:"How long a graceful shutdown may take (not in the reference)"`

	// Round is the round schedule.
	Round RoundConfig `group:"Round"`
	// Registration configures round registration.
	Registration RegistrationConfig `group:"Registration"`
	// Service configures the prover.
	Service ServiceConfig `group:"Service"`

	// DisableWorker runs registration only and publishes empty proofs.
	DisableWorker bool `long:"disable-worker" description:"Run without the PoSW worker: registration only, empty proofs"`
	// Version asks Load to return ErrVersion. It is not read from config files.
	Version bool `long:"version" no-ini:"true" description:"Print the version and exit"`

	// PrivateKey is POET_PRIVATE_KEY: the base64 service key to adopt on first start.
	PrivateKey Secret `no-flag:"true"`
}

// RoundConfig is the round schedule (the [Round] group).
type RoundConfig struct {
	// EpochDuration is the distance between consecutive round starts.
	EpochDuration time.Duration `long:"epoch-duration" default:"30s" description:"Epoch duration: the time between round starts"`
	// PhaseShift is the distance from genesis to round 0's start.
	PhaseShift time.Duration `long:"phase-shift" default:"15s" description:"Phase shift: the time from genesis to the start of round 0"`
	// CycleGap is how long before the next round's start a round stops.
	CycleGap time.Duration `long:"cycle-gap" default:"10s" description:"Cycle gap: how long before the next round starts a round stops executing"`
}

// RegistrationConfig configures registration (the [Registration] group).
type RegistrationConfig struct {
	// PowDifficulty is the deprecated proof of work's number of leading zero bits.
	PowDifficulty uint `long:"pow-difficulty" default:"0" description:"(DEPRECATED) PoW difficulty in leading zero bits"`
	// MaxRoundMembers caps a round's members.
	MaxRoundMembers uint64 `long:"max-round-members" default:"4294967296" description:"The maximum number of members in a round"`
	// MaxSubmitBatchSize is accepted for compatibility and unused: a group commit takes
	// every registration that arrived while the previous one was being written.
	MaxSubmitBatchSize int `long:"max-submit-batch-size" default:"1000" description:"Accepted for compatibility; unused (a group commit takes what arrived during the previous one)"`
	// SubmitFlushInterval is accepted for compatibility and unused: registrations
	// are group-committed as they arrive instead of on a timer.
	SubmitFlushInterval time.Duration `long:"submit-flush-interval" default:"100ms" description:"Accepted for compatibility; unused (registrations are group-committed)"`
	// Certifier configures certificate-based registration.
	Certifier CertifierConfig
}

// CertifierConfig configures certificate-based registration. Its options sit
// in the [Registration] group, as in the reference.
type CertifierConfig struct {
	// URL is the certifier's address, published to nodes.
	URL string `long:"certifier-url" description:"The URL of the certifier service"`
	// PubKey is the certifier's ed25519 public key; certificates signed by it need no key hint.
	PubKey Base64 `long:"certifier-pubkey" description:"The certifier's public key (base64)"`
	// TrustedKeysDirPath is a directory of further trusted certifier keys.
	TrustedKeysDirPath string `long:"trusted-pub-keys-dir-path" description:"The directory of trusted certifier public keys"`
}

// ServiceConfig configures the prover (the [Service] group).
type ServiceConfig struct {
	// EstimatedLeavesPerSecond sizes the in-memory part of the tree. Unless it is given
	// (LPSGiven), the rate measured in the last round replaces it.
	EstimatedLeavesPerSecond uint64 `long:"lps" default:"78000" description:"Estimated number of leaves generated per second; when not given, the rate measured in the last round is used (our addition)"`
	// LPSGiven reports --lps set on the command line or in the config file.
	LPSGiven bool `no-flag:"true" json:"-"`
	// MemoryLayers is the number of top tree layers kept in memory.
	MemoryLayers uint `long:"memory" default:"26" description:"Number of top Merkle tree layers cached in memory"`
	// TreeFileBufferSize is the write buffer of each on-disk layer, in bytes.
	TreeFileBufferSize int `long:"tree-file-buffer" default:"4096" description:"The size in bytes of each file-based tree layer's buffer"`
	// CheckpointInterval is the most prover work a crash can lose (our addition).
	CheckpointInterval time.Duration `long:"checkpoint-interval" default:"5s" description:"How often the prover checkpoints (not in the reference)"`
	// ProverCPU is the CPU the prover thread owns, -1 to choose one (our addition).
	ProverCPU int `long:"prover-cpu" default:"-1" description:"The CPU the prover thread runs on alone; -1 chooses one (the highest whose SMT siblings can stay idle); with one CPU nothing is pinned (not in the reference)"`
	// Calibration is how long to measure the prover before the first round when
	// neither --lps nor an earlier measurement tells its rate (our addition).
	Calibration time.Duration `long:"calibrate" default:"0s" description:"Before the first round, when neither --lps nor an earlier round tells the prover's rate, measure it for this long on the prover's CPU (only where it ends 30 s before the round starts; 0 disables) (not in the reference)"`
	// ProverInProcess keeps the prover in the service's process even when it has a CPU
	// of its own (our addition); by default each round's prover runs in a process of
	// its own, alone on that CPU.
	ProverInProcess bool `long:"prover-in-process" description:"Keep each round's prover in the service's process; by default, when the prover has a CPU of its own, it runs in a process of its own there, where registration cannot delay it (not in the reference)"`
	// ProverSched is the prover thread's scheduling policy (our addition).
	ProverSched string `long:"prover-sched" default:"other" choice:"other" choice:"fifo" choice:"rr" description:"The prover thread's scheduling policy; fifo and rr need CAP_SYS_NICE (not in the reference)"`
	// ProverPriority is the real-time priority for fifo and rr (our addition).
	ProverPriority int `long:"prover-priority" default:"1" description:"The prover thread's real-time priority, 1..99, with --prover-sched fifo or rr (not in the reference)"`
	// CPULimitMillis is the container's CPU limit in millicores (our addition): the
	// exclusivity check needs it where the kubelet removed the CFS quota. Set from
	// POET_CPU_LIMIT_MILLIS when the flag is not given.
	CPULimitMillis int64 `long:"cpu-limit-millis" description:"The container's CPU limit in millicores, for the CPU exclusivity check; default $POET_CPU_LIMIT_MILLIS (not in the reference)"`
}

// Default is the development configuration: loopback listeners, genesis at the
// time of the call, and directories under DefaultPoetDir.
func Default() *Config {
	return defaults(time.Now(), DefaultPoetDir())
}

// DefaultPoetDir is os.UserCacheDir()/poet, or ./poet without a cache directory.
func DefaultPoetDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "./poet"
	}
	return filepath.Join(dir, "poet")
}

func defaults(now time.Time, poetDir string) *Config {
	c := &Config{
		Genesis: Genesis(now),
		PoetDir: poetDir,
		DataDir: filepath.Join(poetDir, DataDirName),
		DbDir:   filepath.Join(poetDir, DBDirName),
		LogDir:  filepath.Join(poetDir, LogDirName),
	}
	p := newParser(c)
	for _, g := range p.Groups() {
		if err := setTagDefaults(g); err != nil {
			panic(fmt.Sprintf("config: applying default tags: %v", err)) // a malformed tag, caught by the tests
		}
	}
	return c
}

func setTagDefaults(g *flags.Group) error {
	for _, opt := range g.Options() {
		for _, d := range opt.Default {
			if err := opt.Set(&d); err != nil {
				return fmt.Errorf("--%s %q: %w", opt.LongName, d, err)
			}
		}
	}
	for _, sub := range g.Groups() {
		if err := setTagDefaults(sub); err != nil {
			return err
		}
	}
	return nil
}

func newParser(c *Config) *flags.Parser {
	p := flags.NewNamedParser("poet", flags.HelpFlag|flags.PassDoubleDash)
	if _, err := p.AddGroup("Application Options", "", c); err != nil {
		panic(fmt.Sprintf("config: scanning Config tags: %v", err)) // a malformed tag, caught by the tests
	}
	return p
}

// HelpError is returned by Load for --help (or for go-flags shell completion,
// GO_FLAGS_COMPLETION); it matches ErrHelp. Print Usage to standard output and
// exit successfully.
type HelpError struct {
	// Usage is the text to print.
	Usage string
}

// Error returns the usage text.
func (e *HelpError) Error() string { return e.Usage }

// Is reports whether target is ErrHelp.
func (e *HelpError) Is(target error) bool { return target == ErrHelp }

// Load builds the configuration from the defaults, the config file named by
// --configfile, the command-line arguments (without the program name), which
// take precedence over the file, and POET_PRIVATE_KEY from getenv, then
// validates it. DataDir, DbDir and LogDir that neither the flags nor the file
// set are placed under PoetDir. --help yields a *HelpError, --version ErrVersion.
func Load(args []string, getenv func(string) string) (*Config, error) {
	c := Default()
	p := newParser(c)
	var completions []string
	p.CompletionHandler = func(items []flags.Completion) {
		completions = make([]string, 0, len(items))
		for _, it := range items {
			completions = append(completions, it.Item+"\n")
		}
	}
	rest, err := p.ParseArgs(args)
	if completions != nil {
		return nil, &HelpError{Usage: strings.Join(completions, "")}
	}
	if err != nil {
		var ferr *flags.Error
		if errors.As(err, &ferr) && ferr.Type == flags.ErrHelp {
			return nil, &HelpError{Usage: ferr.Message}
		}
		return nil, fmt.Errorf("parsing command line: %w", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("parsing command line: unexpected argument %q", rest[0])
	}
	if c.Version {
		return nil, ErrVersion
	}
	lps := p.FindOptionByLongName("lps")
	c.Service.LPSGiven = lps.IsSet() && !lps.IsSetDefault()
	if c.ConfigFile != "" {
		// A zero before the file shows whether the file sets lps (0 is not valid);
		// parsing the arguments again restores the default otherwise.
		if !c.Service.LPSGiven {
			c.Service.EstimatedLeavesPerSecond = 0
		}
		// The file overrides everything, then the arguments are parsed again to
		// take precedence, as in the reference: within the file the last
		// occurrence of a key wins.
		if err := flags.NewIniParser(p).ParseFile(c.ConfigFile); err != nil {
			return nil, fmt.Errorf("reading config file: %w", err)
		}
		c.Service.LPSGiven = c.Service.EstimatedLeavesPerSecond != 0
		if _, err := p.ParseArgs(args); err != nil {
			return nil, fmt.Errorf("parsing command line: %w", err)
		}
	}
	c.rebaseDirs(p)
	if getenv != nil {
		c.PrivateKey = Secret(getenv(identity.EnvVar))
		if v := getenv(cpuinfo.LimitEnv); v != "" && !p.FindOptionByLongName("cpu-limit-millis").IsSet() {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %s=%q is not a number of millicores", ErrInvalid, cpuinfo.LimitEnv, v)
			}
			c.Service.CPULimitMillis = n
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// rebaseDirs moves the directories that were left unset under PoetDir. The
// reference means to do the same but compares PoetDir with the default
// DataDir, so a --poetdir equal to <default poetdir>/data keeps the default
// directories; here an unset directory always follows PoetDir.
func (c *Config) rebaseDirs(p *flags.Parser) {
	for _, d := range []struct {
		long string
		dir  *string
		name string
	}{
		{"datadir", &c.DataDir, DataDirName},
		{"dbdir", &c.DbDir, DBDirName},
		{"logdir", &c.LogDir, LogDirName},
	} {
		if !p.FindOptionByLongName(d.long).IsSet() {
			*d.dir = filepath.Join(c.PoetDir, d.name)
		}
	}
}

// Schedule is the round schedule the configuration describes.
func (c *Config) Schedule() schedule.Schedule {
	return schedule.Schedule{
		Genesis:       c.Genesis.Time(),
		EpochDuration: c.Round.EpochDuration,
		PhaseShift:    c.Round.PhaseShift,
		CycleGap:      c.Round.CycleGap,
	}
}
