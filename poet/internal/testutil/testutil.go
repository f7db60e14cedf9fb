// Package testutil holds the helpers that tests of several poet packages share:
// building a command once per test process, parsing a time literal, a settable clock,
// and running a service in the background for the length of a test. It is a normal
// package so that the tests of any package below poet/ can import it; nothing outside
// tests imports it. Packages outside poet/ (controllers, and the nested modules
// hack/compat and hack/cluster) cannot import it: Go's internal rule.
//
// There is no free-port helper on purpose: its port is free only until another process
// takes it, before the server binds it. A server under test listens on 127.0.0.1:0 and
// is asked where (in process), or says where in its log (the poet binary's "listening"
// line).
package testutil

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// built caches BuildBinary's results for the life of the test process.
var built struct {
	mu   sync.Mutex
	bins map[string]result
}

type result struct {
	bin string
	err error
}

// BuildBinary runs `go build` on pkg (an import path, or a path relative to the test's
// package directory such as ".") once per test process and returns the binary's path.
// Later calls with the same pkg return the same binary, or the same build error, which
// fails t. The binary lives in its own directory under os.TempDir, left for the OS to
// clear: no test may delete it while another test of the process still runs it.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("building %s: %v", pkg, err)
	}
	key := wd + "\x00" + pkg // a relative pkg names a different package in another directory
	built.mu.Lock()
	defer built.mu.Unlock()
	r, ok := built.bins[key]
	if !ok {
		r = build(pkg, wd)
		if built.bins == nil {
			built.bins = map[string]result{}
		}
		built.bins[key] = r
	}
	if r.err != nil {
		t.Fatalf("building %s: %v", pkg, r.err)
	}
	return r.bin
}

func build(pkg, wd string) result {
	dir, err := os.MkdirTemp("", "poet-testutil-")
	if err != nil {
		return result{err: err}
	}
	name := path.Base(pkg)
	if name == "." || name == "/" {
		name = filepath.Base(wd)
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return result{err: fmt.Errorf("%w\n%s", err, out)}
	}
	return result{bin: bin}
}

// MustTime parses an RFC 3339 time (fractional seconds allowed) or fails t.
func MustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parsing time %q: %v", s, err)
	}
	return v
}

// Clock is a settable clock for code that takes a func() time.Time: pass c.Now. It is
// safe for concurrent use; it stands still until Set.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock is a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the time last set.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t, forwards or back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Background runs run in a goroutine until the test ends; then it cancels run's context,
// waits for run to return and reports its error on t. The channel is closed when run
// returns, so that a test can notice an early exit.
func Background(t testing.TB, run func(context.Context) error) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var err error
	go func() {
		defer close(exited)
		err = run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if err != nil {
			t.Error(err)
		}
	})
	return exited
}

// MustHex decodes hex written for people (spaces allowed between bytes) or fails the
// test.
func MustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
