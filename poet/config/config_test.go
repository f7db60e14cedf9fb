package config

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/identity"
	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

func noEnv(string) string { return "" }

func load(t *testing.T, args ...string) *Config {
	t.Helper()
	c, err := Load(args, noEnv)
	if err != nil {
		t.Fatalf("Load(%q) = %v", args, err)
	}
	return c
}

func writeConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "poet.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDefaults checks the defaults against the reference's (spec §8).
func TestDefaults(t *testing.T) {
	before := time.Now()
	c := load(t)
	after := time.Now()
	if g := c.Genesis.Time(); g.Before(before) || g.After(after) {
		t.Errorf("genesis %s is not the time of Load", g)
	}
	poetDir := DefaultPoetDir()
	if cache, err := os.UserCacheDir(); err == nil && poetDir != filepath.Join(cache, "poet") {
		t.Errorf("DefaultPoetDir() = %q, want %q", poetDir, filepath.Join(cache, "poet"))
	}
	want := Config{
		Genesis:            c.Genesis,
		PoetDir:            poetDir,
		DataDir:            filepath.Join(poetDir, "data"),
		DbDir:              filepath.Join(poetDir, "db"),
		LogDir:             filepath.Join(poetDir, "logs"),
		MaxLogFiles:        3,
		MaxLogFileSize:     10,
		ConfigRPCListener:  "localhost:50001",
		RawRPCListener:     "localhost:50002",
		RawRESTListener:    "localhost:8080",
		MaxGrpcRespSize:    8388608,
		MaxRequestBytes:    1 << 20,
		GRPCMaxMsgSize:     256 << 20,
		GRPCMaxRecvMsgSize: 4 << 20,
		MaxConns:           4096,
		MaxConnsPerIP:      256,
		ShutdownTimeout:    20 * time.Second,
		Round:              RoundConfig{EpochDuration: 30 * time.Second, PhaseShift: 15 * time.Second, CycleGap: 10 * time.Second},
		Registration: RegistrationConfig{
			MaxRoundMembers:     4294967296,
			MaxSubmitBatchSize:  1000,
			SubmitFlushInterval: 100 * time.Millisecond,
		},
		Service: ServiceConfig{
			EstimatedLeavesPerSecond: 78000,
			MemoryLayers:             26,
			TreeFileBufferSize:       4096,
			CheckpointInterval:       5 * time.Second,
			ProverCPU:                -1,
			ProverSched:              "other",
			ProverPriority:           1,
		},
	}
	if got, exp := fmt.Sprintf("%+v", *c), fmt.Sprintf("%+v", want); got != exp {
		t.Errorf("Load() =\n%s\nwant\n%s", got, exp)
	}
	if d := Default(); d.Validate() != nil || fmt.Sprintf("%+v", d.Round) != fmt.Sprintf("%+v", want.Round) {
		t.Errorf("Default() = %+v, %v", d, d.Validate())
	}
}

func TestSampleFiles(t *testing.T) {
	port := uint16(2222)
	tests := []struct {
		file  string
		check func(t *testing.T, c *Config)
	}{
		{"testdata/sample-poet.conf", func(t *testing.T, c *Config) {
			if g := c.Genesis.Time(); !g.Equal(testutil.MustTime(t, "2022-08-09T06:21:19Z")) {
				t.Errorf("genesis %s", g)
			}
			if c.Round != (RoundConfig{EpochDuration: time.Minute, PhaseShift: 15 * time.Second, CycleGap: 5 * time.Second}) {
				t.Errorf("round %+v", c.Round)
			}
		}},
		{"testdata/poet_config_sample.conf", func(t *testing.T, c *Config) {
			if g := c.Genesis.Time(); !g.Equal(testutil.MustTime(t, "2023-07-14T08:00:00Z")) {
				t.Errorf("genesis %s", g)
			}
			if c.Round != (RoundConfig{EpochDuration: 336 * time.Hour, PhaseShift: 240 * time.Hour, CycleGap: 12 * time.Hour}) {
				t.Errorf("round %+v", c.Round)
			}
			if !c.JSONLog || !c.DebugLog || c.Registration.PowDifficulty != 20 || c.MetricsPort == nil || *c.MetricsPort != port {
				t.Errorf("jsonlog %v debuglog %v pow-difficulty %d metrics-port %v",
					c.JSONLog, c.DebugLog, c.Registration.PowDifficulty, c.MetricsPort)
			}
			s := c.Schedule()
			if got := s.RoundStart(0); !got.Equal(testutil.MustTime(t, "2023-07-24T08:00:00Z")) {
				t.Errorf("mainnet round 0 starts %s", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			tt.check(t, load(t, "-c", tt.file))
			tt.check(t, load(t, "--configfile="+tt.file))
		})
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	c := load(t, "--pow-difficulty", "5", "-c", "testdata/poet_config_sample.conf", "--cycle-gap=1h", "--metrics-port", "9090")
	if c.Registration.PowDifficulty != 5 || c.Round.CycleGap != time.Hour || *c.MetricsPort != 9090 {
		t.Errorf("pow-difficulty %d, cycle-gap %s, metrics-port %d: want the flags' 5, 1h, 9090",
			c.Registration.PowDifficulty, c.Round.CycleGap, *c.MetricsPort)
	}
	if c.Round.EpochDuration != 336*time.Hour || !c.JSONLog {
		t.Errorf("the file's other keys were lost: %+v", c.Round)
	}
}

func TestDuplicateKeyLastWins(t *testing.T) {
	c := load(t, "-c", writeConf(t, "epoch-duration=60s\nepoch-duration=90s\n[Round]\ncycle-gap=1s\ncycle-gap=2s\n"))
	if c.Round.EpochDuration != 90*time.Second || c.Round.CycleGap != 2*time.Second {
		t.Errorf("round %+v, want the last occurrences 90s and 2s", c.Round)
	}
}

func TestEveryFlag(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	tests := []struct {
		args  []string
		check func(c *Config) bool
	}{
		{[]string{"--genesis-time", "2024-02-03T04:05:06.5+01:00"}, func(c *Config) bool {
			return c.Genesis.Time().Equal(time.Date(2024, 2, 3, 3, 5, 6, 5e8, time.UTC))
		}},
		{[]string{"--poetdir", "/p"}, func(c *Config) bool { return c.PoetDir == "/p" }},
		{[]string{"-b", "/d"}, func(c *Config) bool { return c.DataDir == "/d" }},
		{[]string{"--datadir", "/d"}, func(c *Config) bool { return c.DataDir == "/d" }},
		{[]string{"--dbdir", "/db"}, func(c *Config) bool { return c.DbDir == "/db" }},
		{[]string{"--logdir", "/l"}, func(c *Config) bool { return c.LogDir == "/l" }},
		{[]string{"--debuglog"}, func(c *Config) bool { return c.DebugLog }},
		{[]string{"--jsonlog"}, func(c *Config) bool { return c.JSONLog }},
		{[]string{"--maxlogfiles", "0"}, func(c *Config) bool { return c.MaxLogFiles == 0 }},
		{[]string{"--maxlogfilesize", "50"}, func(c *Config) bool { return c.MaxLogFileSize == 50 }},
		{[]string{"--config-rpclisten", "0.0.0.0:1"}, func(c *Config) bool { return c.ConfigRPCListener == "0.0.0.0:1" }},
		{[]string{"-r", ":2"}, func(c *Config) bool { return c.RawRPCListener == ":2" }},
		{[]string{"--rpclisten", "[::1]:3"}, func(c *Config) bool { return c.RawRPCListener == "[::1]:3" }},
		{[]string{"-w", "127.0.0.1:4"}, func(c *Config) bool { return c.RawRESTListener == "127.0.0.1:4" }},
		{[]string{"--restlisten", ":5"}, func(c *Config) bool { return c.RawRESTListener == ":5" }},
		{[]string{"--metrics-port", "2222"}, func(c *Config) bool { return c.MetricsPort != nil && *c.MetricsPort == 2222 }},
		{[]string{"--max-grpc-resp-size", "100"}, func(c *Config) bool { return c.MaxGrpcRespSize == 100 }},
		{[]string{"--cpuprofile", "cpu.out"}, func(c *Config) bool { return c.CPUProfile == "cpu.out" }},
		{[]string{"--profile", "6060"}, func(c *Config) bool { return c.Profile == "6060" }},
		{[]string{"--epoch-duration", "2m"}, func(c *Config) bool { return c.Round.EpochDuration == 2*time.Minute }},
		{[]string{"--phase-shift", "0s"}, func(c *Config) bool { return c.Round.PhaseShift == 0 }},
		{[]string{"--cycle-gap", "1s"}, func(c *Config) bool { return c.Round.CycleGap == time.Second }},
		{[]string{"--pow-difficulty", "256"}, func(c *Config) bool { return c.Registration.PowDifficulty == 256 }},
		{[]string{"--max-round-members", "10"}, func(c *Config) bool { return c.Registration.MaxRoundMembers == 10 }},
		{[]string{"--max-submit-batch-size", "1"}, func(c *Config) bool { return c.Registration.MaxSubmitBatchSize == 1 }},
		{[]string{"--submit-flush-interval", "1s"}, func(c *Config) bool { return c.Registration.SubmitFlushInterval == time.Second }},
		{[]string{"--certifier-url", "https://certifier.example"}, func(c *Config) bool {
			return c.Registration.Certifier.URL == "https://certifier.example"
		}},
		{[]string{"--certifier-pubkey", key}, func(c *Config) bool {
			return bytes.Equal(c.Registration.Certifier.PubKey, bytes.Repeat([]byte{7}, 32))
		}},
		{[]string{"--trusted-pub-keys-dir-path", "/keys"}, func(c *Config) bool {
			return c.Registration.Certifier.TrustedKeysDirPath == "/keys"
		}},
		{[]string{"--lps", "1000"}, func(c *Config) bool { return c.Service.EstimatedLeavesPerSecond == 1000 && c.Service.LPSGiven }},
		{[]string{"--memory", "63"}, func(c *Config) bool { return c.Service.MemoryLayers == 63 }},
		{[]string{"--tree-file-buffer", "32"}, func(c *Config) bool { return c.Service.TreeFileBufferSize == 32 }},
		{[]string{"--checkpoint-interval", "1m"}, func(c *Config) bool { return c.Service.CheckpointInterval == time.Minute }},
		{[]string{"--prover-cpu", "3"}, func(c *Config) bool { return c.Service.ProverCPU == 3 }},
		{[]string{"--prover-sched", "fifo", "--prover-priority", "50"}, func(c *Config) bool {
			return c.Service.ProverSched == "fifo" && c.Service.ProverPriority == 50
		}},
		{[]string{"--cpu-limit-millis", "2000"}, func(c *Config) bool { return c.Service.CPULimitMillis == 2000 }},
		{[]string{"--disable-worker"}, func(c *Config) bool { return c.DisableWorker }},
		{[]string{"--max-request-bytes", "512"}, func(c *Config) bool { return c.MaxRequestBytes == 512 }},
		{[]string{"--grpc-max-msg-size", "1024"}, func(c *Config) bool { return c.GRPCMaxMsgSize == 1024 }},
		{[]string{"--grpc-max-recv-msg-size", "2048"}, func(c *Config) bool { return c.GRPCMaxRecvMsgSize == 2048 }},
		{[]string{"--max-conns", "0"}, func(c *Config) bool { return c.MaxConns == 0 }},
		{[]string{"--max-conns-per-ip", "16"}, func(c *Config) bool { return c.MaxConnsPerIP == 16 }},
		{[]string{"--shutdown-timeout", "1m"}, func(c *Config) bool { return c.ShutdownTimeout == time.Minute }},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if c := load(t, tt.args...); !tt.check(c) {
				t.Errorf("Load(%q) = %+v", tt.args, c)
			}
		})
	}
}

func TestINISections(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	path := writeConf(t, `
; groups as in the reference's Config struct
[Application Options]
restlisten = 0.0.0.0:9999
RawRPCListener = 0.0.0.0:9998
poetdir = /srv/poet

[Round]
epoch-duration = 1h
PhaseShift = 10m

[Registration]
certifier-url = "http://certifier.service"
certifier-pubkey = `+key+`
max-round-members = 100

[service]
lps = 1234
`)
	c := load(t, "-c", path)
	if c.RawRESTListener != "0.0.0.0:9999" || c.RawRPCListener != "0.0.0.0:9998" || c.PoetDir != "/srv/poet" {
		t.Errorf("[Application Options]: %q %q %q", c.RawRESTListener, c.RawRPCListener, c.PoetDir)
	}
	if c.Round.EpochDuration != time.Hour || c.Round.PhaseShift != 10*time.Minute {
		t.Errorf("[Round]: %+v", c.Round)
	}
	r := c.Registration
	if r.Certifier.URL != "http://certifier.service" || len(r.Certifier.PubKey) != 32 || r.MaxRoundMembers != 100 {
		t.Errorf("[Registration]: %+v", r)
	}
	if c.Service.EstimatedLeavesPerSecond != 1234 {
		t.Errorf("[service] (sections match case-insensitively): %+v", c.Service)
	}
	if c.DataDir != "/srv/poet/data" || c.DbDir != "/srv/poet/db" || c.LogDir != "/srv/poet/logs" {
		t.Errorf("poetdir from the file did not move the directories: %q %q %q", c.DataDir, c.DbDir, c.LogDir)
	}
}

func TestDirectories(t *testing.T) {
	def := DefaultPoetDir()
	tests := []struct {
		name                string
		args                []string
		file                string
		data, db, log, poet string
	}{
		{name: "defaults", poet: def, data: def + "/data", db: def + "/db", log: def + "/logs"},
		{name: "poetdir", args: []string{"--poetdir", "/p"}, poet: "/p", data: "/p/data", db: "/p/db", log: "/p/logs"},
		{name: "poetdir and datadir", args: []string{"--poetdir", "/p", "-b", "/d"}, poet: "/p", data: "/d", db: "/p/db", log: "/p/logs"},
		{
			name: "explicit default datadir is kept",
			args: []string{"--poetdir", "/p", "--datadir", filepath.Join(def, "data")},
			poet: "/p", data: filepath.Join(def, "data"), db: "/p/db", log: "/p/logs",
		},
		{
			name: "poetdir is the default datadir (the reference skips re-basing here)",
			args: []string{"--poetdir", filepath.Join(def, "data")},
			poet: filepath.Join(def, "data"), data: filepath.Join(def, "data", "data"),
			db: filepath.Join(def, "data", "db"), log: filepath.Join(def, "data", "logs"),
		},
		{name: "poetdir in file", file: "poetdir=/f\n", poet: "/f", data: "/f/data", db: "/f/db", log: "/f/logs"},
		{name: "flag poetdir, file dbdir", args: []string{"--poetdir", "/p"}, file: "dbdir=/fdb\n", poet: "/p", data: "/p/data", db: "/fdb", log: "/p/logs"},
		{name: "file poetdir, flag logdir", args: []string{"--logdir", "/l"}, file: "poetdir=/f\n", poet: "/f", data: "/f/data", db: "/f/db", log: "/l"},
		{name: "relative poetdir", args: []string{"--poetdir", "rel"}, poet: "rel", data: "rel/data", db: "rel/db", log: "rel/logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "-c", writeConf(t, tt.file))
			}
			c := load(t, args...)
			if c.PoetDir != tt.poet || c.DataDir != tt.data || c.DbDir != tt.db || c.LogDir != tt.log {
				t.Errorf("poetdir %q datadir %q dbdir %q logdir %q; want %q %q %q %q",
					c.PoetDir, c.DataDir, c.DbDir, c.LogDir, tt.poet, tt.data, tt.db, tt.log)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"--epoch-duration", "1s", "-h"}} {
		_, err := Load(args, noEnv)
		var he *HelpError
		if !errors.Is(err, ErrHelp) || !errors.As(err, &he) {
			t.Fatalf("Load(%q) = %v, want a *HelpError", args, err)
		}
		for _, want := range []string{"Usage:", "poet [OPTIONS]", "--genesis-time", "-c, --configfile", "Round:", "--epoch-duration", "--certifier-pubkey", "--lps", "--version"} {
			if !strings.Contains(he.Usage, want) {
				t.Errorf("help lacks %q:\n%s", want, he.Usage)
			}
		}
	}
	if _, err := Load([]string{"--version"}, noEnv); !errors.Is(err, ErrVersion) {
		t.Fatalf("Load(--version) = %v, want ErrVersion", err)
	}
	if _, err := Load([]string{"-c", writeConf(t, "version=true\n")}, noEnv); err == nil || errors.Is(err, ErrVersion) {
		t.Fatalf("version in a config file = %v, want an unknown-option error", err)
	}
}

func TestCompletion(t *testing.T) {
	t.Setenv("GO_FLAGS_COMPLETION", "1")
	_, err := Load([]string{"--epoch-d"}, noEnv)
	var he *HelpError
	if !errors.As(err, &he) || he.Usage != "--epoch-duration\n" {
		t.Fatalf("completion = %v, want a *HelpError listing --epoch-duration", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		file string
		want string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, want: "parsing command line: unknown flag `no-such-flag'"},
		{name: "positional argument", args: []string{"serve"}, want: `unexpected argument "serve"`},
		{name: "after double dash", args: []string{"--", "--jsonlog"}, want: `unexpected argument "--jsonlog"`},
		{name: "missing value", args: []string{"--epoch-duration"}, want: "expected argument for flag `--epoch-duration'"},
		{name: "bad duration", args: []string{"--epoch-duration", "1 hour"}, want: "--epoch-duration"},
		{name: "bad genesis flag", args: []string{"--genesis-time", "2023-07-14 08:00"}, want: `parsing "2023-07-14 08:00" as an RFC 3339 time`},
		{name: "bad genesis in file", file: "\n\ngenesis-time=yesterday\n", want: `poet.conf:3: parsing "yesterday" as an RFC 3339 time`},
		{name: "bad base64", args: []string{"--certifier-pubkey", "%%%"}, want: "decoding base64"},
		{name: "negative uint", args: []string{"--pow-difficulty", "-1"}, want: "--pow-difficulty"},
		{name: "unknown key in file", file: "epoch-duration=60s\nno-such-key=1\n", want: "poet.conf:2: unknown option: no-such-key"},
		{name: "unknown section", file: "[Nope]\nlps=1\n", want: "could not find option group `Nope'"},
		{name: "key in the wrong section", file: "[Round]\nlps=1\n", want: "unknown option: lps"},
		{name: "malformed line", file: "epoch-duration\n", want: "malformed key=value"},
		{name: "missing file", args: []string{"-c", "/nonexistent/poet.conf"}, want: "reading config file: open /nonexistent/poet.conf"},
		{name: "invalid value from file", file: "pow-difficulty=300\n", want: "--pow-difficulty 300: must be 0..256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "-c", writeConf(t, tt.file))
			}
			_, err := Load(args, noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%q) = %v, want an error containing %q", args, err, tt.want)
			}
			if errors.Is(err, ErrHelp) || errors.Is(err, ErrVersion) {
				t.Fatalf("Load(%q) = %v, looks like help or version", args, err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	base := func() *Config { return defaults(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "/poet") }
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // "" for valid
	}{
		{name: "defaults", modify: func(*Config) {}},
		{name: "mainnet schedule", modify: func(c *Config) {
			c.Round = RoundConfig{EpochDuration: 336 * time.Hour, PhaseShift: 240 * time.Hour, CycleGap: 12 * time.Hour}
		}},
		{name: "pow difficulty 256", modify: func(c *Config) { c.Registration.PowDifficulty = 256 }},
		{name: "memory 63", modify: func(c *Config) { c.Service.MemoryLayers = 63 }},
		{name: "profile port", modify: func(c *Config) { c.Profile = "65535" }},
		{name: "32-byte certifier key", modify: func(c *Config) { c.Registration.Certifier.PubKey = make([]byte, 32) }},
		{name: "zero genesis", modify: func(c *Config) { c.Genesis = Genesis{} }, want: "--genesis-time 0001-01-01T00:00:00Z: must be from 1970-01-01 to before 2262-01-01"},
		{name: "genesis before 1733", modify: func(c *Config) { c.Genesis = Genesis(time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC)) }, want: "--genesis-time 1700-01-01T00:00:00Z: must be from"},
		{name: "genesis in 9999", modify: func(c *Config) { c.Genesis = Genesis(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) }, want: "--genesis-time 9999-01-01T00:00:00Z: must be from"},
		{name: "empty datadir", modify: func(c *Config) { c.DataDir = "" }, want: "--datadir: must not be empty"},
		{name: "negative maxlogfiles", modify: func(c *Config) { c.MaxLogFiles = -1 }, want: "--maxlogfiles -1: must not be negative"},
		{name: "listener without port", modify: func(c *Config) { c.RawRPCListener = "localhost" }, want: `--rpclisten "localhost": must be host:port: missing port in address`},
		{name: "empty listener", modify: func(c *Config) { c.RawRESTListener = "" }, want: `--restlisten "": must be host:port`},
		{name: "listener empty port", modify: func(c *Config) { c.ConfigRPCListener = "localhost:" }, want: `--config-rpclisten "localhost:": must be host:port: missing port`},
		{name: "grpc resp size", modify: func(c *Config) { c.MaxGrpcRespSize = 0 }, want: "--max-grpc-resp-size 0: must be positive"},
		{name: "profile low port", modify: func(c *Config) { c.Profile = "80" }, want: `--profile "80": must be a port number between 1024 and 65535`},
		{name: "profile not a port", modify: func(c *Config) { c.Profile = "localhost:6060" }, want: `--profile "localhost:6060"`},
		{name: "request bytes", modify: func(c *Config) { c.MaxRequestBytes = -5 }, want: "--max-request-bytes -5: must be positive"},
		{name: "grpc msg size", modify: func(c *Config) { c.GRPCMaxMsgSize = 0 }, want: "--grpc-max-msg-size 0: must be positive"},
		{name: "grpc recv msg size", modify: func(c *Config) { c.GRPCMaxRecvMsgSize = -1 }, want: "--grpc-max-recv-msg-size -1: must be positive"},
		{name: "max conns", modify: func(c *Config) { c.MaxConns = -1 }, want: "--max-conns -1: must be 0 (no limit) or positive"},
		{name: "max conns per ip", modify: func(c *Config) { c.MaxConnsPerIP = -2 }, want: "--max-conns-per-ip -2: must be 0 (no limit) or positive"},
		{name: "shutdown timeout", modify: func(c *Config) { c.ShutdownTimeout = 0 }, want: "--shutdown-timeout 0s: must be positive"},
		{name: "zero epoch", modify: func(c *Config) { c.Round.EpochDuration = 0 }, want: "--epoch-duration 0s: must be positive"},
		{name: "phase shift = epoch", modify: func(c *Config) { c.Round.PhaseShift = 30 * time.Second }, want: "--phase-shift 30s: must be at least 0 and less than --epoch-duration 30s"},
		{name: "negative phase shift", modify: func(c *Config) { c.Round.PhaseShift = -time.Second }, want: "--phase-shift -1s"},
		{name: "cycle gap > epoch", modify: func(c *Config) { c.Round.CycleGap = time.Minute }, want: "--cycle-gap 1m0s: must be at least 0 and less than --epoch-duration 30s"},
		{name: "pow difficulty", modify: func(c *Config) { c.Registration.PowDifficulty = 300 }, want: "--pow-difficulty 300: must be 0..256"},
		{name: "max round members", modify: func(c *Config) { c.Registration.MaxRoundMembers = 0 }, want: "--max-round-members 0: must be positive"},
		{name: "batch size", modify: func(c *Config) { c.Registration.MaxSubmitBatchSize = 0 }, want: "--max-submit-batch-size 0: must be positive"},
		{name: "flush interval", modify: func(c *Config) { c.Registration.SubmitFlushInterval = -1 }, want: "--submit-flush-interval -1ns: must not be negative"},
		{name: "certifier url", modify: func(c *Config) { c.Registration.Certifier.URL = "http://[::1" }, want: `--certifier-url "http://[::1": missing ']' in host`},
		{name: "certifier key length", modify: func(c *Config) { c.Registration.Certifier.PubKey = []byte("thekey") }, want: "--certifier-pubkey: decodes to 6 bytes, want an ed25519 public key of 32"},
		{name: "lps 0", modify: func(c *Config) { c.Service.EstimatedLeavesPerSecond = 0 }, want: "--lps 0: must be positive"},
		{name: "memory 64", modify: func(c *Config) { c.Service.MemoryLayers = 64 }, want: "--memory 64: must be 0..63"},
		{name: "tree file buffer", modify: func(c *Config) { c.Service.TreeFileBufferSize = 31 }, want: "--tree-file-buffer 31: must be at least 32"},
		{name: "checkpoint interval", modify: func(c *Config) { c.Service.CheckpointInterval = 0 }, want: "--checkpoint-interval 0s: must be positive"},
		{name: "private key", modify: func(c *Config) { c.PrivateKey = "c2VjcmV0" }, want: "POET_PRIVATE_KEY: invalid private key: 6 bytes, want 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.modify(c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var oe *OptionError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &oe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an ErrInvalid *OptionError containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), strings.SplitN(tt.want, " ", 2)[0]) {
				t.Errorf("Validate() = %q does not start with the option's name", err)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := defaults(time.Now(), "/poet")
	c.Registration.PowDifficulty = 300
	c.Service.EstimatedLeavesPerSecond = 0
	c.Round.CycleGap = time.Hour
	err := c.Validate()
	for _, want := range []string{"--pow-difficulty 300", "--lps 0", "--cycle-gap 1h0m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestPrivateKeyFromEnv(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	enc := base64.StdEncoding.EncodeToString(key)
	getenv := func(name string) string {
		if name == identity.EnvVar {
			return enc
		}
		return ""
	}
	c, err := Load(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.PrivateKey) != enc {
		t.Fatalf("PrivateKey = %q, want POET_PRIVATE_KEY", string(c.PrivateKey))
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c, "key", c.PrivateKey)
	j, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.PrivateKey), logged.String(), string(j)} {
		if strings.Contains(out, enc) || strings.Contains(out, enc[:20]) {
			t.Fatalf("the private key leaks into %q", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", c), "[redacted]") {
		t.Errorf("%%+v does not show the key as redacted")
	}

	bad := func(name string) string {
		if name == identity.EnvVar {
			return "c2VjcmV0"
		}
		return ""
	}
	if _, err := Load(nil, bad); err == nil || !strings.Contains(err.Error(), "POET_PRIVATE_KEY") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("Load with a bad POET_PRIVATE_KEY = %v, want an error naming (not quoting) it", err)
	}
}

// LPSGiven tells an lps from the command line or the file from the default.
func TestLPSGiven(t *testing.T) {
	file := func(body string) string {
		f := filepath.Join(t.TempDir(), "poet.conf")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, tc := range []struct {
		args  []string
		given bool
		lps   uint64
	}{
		{nil, false, 78000},
		{[]string{"--lps", "5000"}, true, 5000},
		{[]string{"--lps", "78000"}, true, 78000},
		{[]string{"--configfile", file("[Service]\nlps = 4000\n")}, true, 4000},
		{[]string{"--configfile", file("[Service]\nlps = 4000\n"), "--lps", "3000"}, true, 3000},
		{[]string{"--configfile", file("[Service]\nmemory = 20\n")}, false, 78000},
	} {
		c, err := Load(tc.args, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.Service.LPSGiven != tc.given || c.Service.EstimatedLeavesPerSecond != tc.lps {
			t.Errorf("%q: lps %d given %v, want %d %v", tc.args, c.Service.EstimatedLeavesPerSecond, c.Service.LPSGiven, tc.lps, tc.given)
		}
	}
}

// The operator passes the container's CPU limit through the downward API; a flag wins.
func TestCPULimitFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == "POET_CPU_LIMIT_MILLIS" {
				return v
			}
			return ""
		}
	}
	if c, err := Load(nil, env("3000")); err != nil || c.Service.CPULimitMillis != 3000 {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
	if c, err := Load([]string{"--cpu-limit-millis", "1000"}, env("3000")); err != nil || c.Service.CPULimitMillis != 1000 {
		t.Fatalf("the flag does not win: %+v %v", c, err)
	}
	if c, err := Load(nil, env("")); err != nil || c.Service.CPULimitMillis != 0 {
		t.Fatalf("unset: %+v %v", c, err)
	}
	if _, err := Load(nil, env("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(nil, env("2.5")); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "POET_CPU_LIMIT_MILLIS") {
		t.Fatalf("a bad value: %v", err)
	}
	for _, args := range [][]string{{"--prover-sched", "idle"}, {"--prover-sched", "rr", "--prover-priority", "0"}, {"--prover-cpu", "-2"}} {
		if _, err := Load(args, nil); err == nil || !strings.Contains(err.Error(), args[0][:10]) {
			t.Errorf("Load(%q) = %v", args, err)
		}
	}
	if _, err := Load([]string{"--cpu-limit-millis", "-1"}, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--cpu-limit-millis") {
		t.Fatalf("a negative limit: %v", err)
	}
}

func TestSchedule(t *testing.T) {
	c := load(t, "--genesis-time", "2024-01-01T00:00:00Z", "--epoch-duration", "24s", "--phase-shift", "12s", "--cycle-gap", "6s")
	want := schedule.Schedule{
		Genesis:       time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		EpochDuration: 24 * time.Second,
		PhaseShift:    12 * time.Second,
		CycleGap:      6 * time.Second,
	}
	if got := c.Schedule(); got != want {
		t.Fatalf("Schedule() = %+v, want %+v", got, want)
	}
	if err := c.Schedule().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGenesisFlagRoundTrip(t *testing.T) {
	g := Genesis(time.Date(2023, 7, 14, 8, 0, 0, 123, time.UTC))
	s, err := g.MarshalFlag()
	if err != nil || s != "2023-07-14T08:00:00.000000123Z" {
		t.Fatalf("MarshalFlag = %q, %v", s, err)
	}
	var back Genesis
	if err := back.UnmarshalFlag(s); err != nil || !back.Time().Equal(g.Time()) {
		t.Fatalf("UnmarshalFlag(%q) = %s, %v", s, back.Time(), err)
	}
}

func TestDefaultPoetDirWithoutCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if got := DefaultPoetDir(); got != "./poet" {
		t.Fatalf("DefaultPoetDir() = %q, want ./poet", got)
	}
	c := load(t)
	if c.PoetDir != "./poet" || c.DataDir != "poet/data" || c.DbDir != "poet/db" || c.LogDir != "poet/logs" {
		t.Fatalf("directories %q %q %q %q", c.PoetDir, c.DataDir, c.DbDir, c.LogDir)
	}
}
