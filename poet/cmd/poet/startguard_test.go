package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
)

// A data directory made under one genesis is refused under another: the second start
// exits 1 naming both schedules, and the directory's rounds are untouched.
func TestOtherScheduleIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the poet binary")
	}
	p := newPoet(t, time.Hour)
	p.start()
	p.stop()
	before, err := os.ReadFile(filepath.Join(p.dir, "data", "schedule.json"))
	if err != nil {
		t.Fatalf("no schedule recorded: %v", err)
	}

	other := p.genesis.Add(time.Minute).UTC().Format(time.RFC3339Nano)
	cmd := exec.Command(testutil.BuildBinary(t, "."), "--poetdir", p.dir, "--genesis-time", other,
		"--epoch-duration", epoch.String(), "--phase-shift", phaseShift.String(), "--cycle-gap", cycleGap.String(),
		"--restlisten", "127.0.0.1:0", "--rpclisten", "127.0.0.1:0", "--config-rpclisten", "127.0.0.1:0")
	out, err := runWithin(t, cmd, time.Minute)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("start under another genesis: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"belongs to another round schedule", p.genesis.UTC().Format(time.RFC3339Nano), other} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	after, err := os.ReadFile(filepath.Join(p.dir, "data", "schedule.json"))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the record changed: %v\nbefore %s\nafter %s", err, before, after)
	}

	p.start() // the recorded timing still starts
	p.stop()
}

// SIGHUP reloads the certifier keys; sent while the poet is still starting (from the
// moment main runs until it is ready), it must not end the process
// as the runtime's default for an unrequested SIGHUP does (status 129).
func TestSIGHUPDuringStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the poet binary")
	}
	p := newPoet(t, time.Hour)
	cmd := exec.Command(testutil.BuildBinary(t, "."), "--poetdir", p.dir,
		"--genesis-time", p.genesis.UTC().Format(time.RFC3339Nano),
		"--epoch-duration", epoch.String(), "--phase-shift", phaseShift.String(), "--cycle-gap", cycleGap.String(),
		"--restlisten", "127.0.0.1:0", "--rpclisten", "127.0.0.1:0", "--config-rpclisten", "127.0.0.1:0",
		"--metrics-port", "0", "--jsonlog")
	log := &logBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// Go runs the runtime's own start before any package can ask for a signal; the
	// window under test opens when main starts work, which it does by making the data
	// directory, and closes when the poet is ready.
	for {
		if _, err := os.Stat(filepath.Join(p.dir, "data")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the poet exited before making its data directory: %v\n%s", err, log.String())
		default:
		}
		time.Sleep(50 * time.Microsecond)
	}
	sent := 0
	for ready := false; !ready; {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("after %d SIGHUPs: %v\n%s", sent, err, log.String())
		}
		sent++
		select {
		case err := <-done:
			t.Fatalf("the poet ended on SIGHUP number %d during start-up: %v\n%s", sent, err, log.String())
		case <-time.After(time.Millisecond):
		}
		if p.ops == "" {
			if a, ok := log.listening(); ok {
				p.ops = a.ops()
			}
		}
		ready = p.ops != "" && httpStatus("http://"+p.ops+"/readyz") == 200
		if sent > 60_000 {
			t.Fatalf("not ready after %d SIGHUPs:\n%s", sent, log.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after %d SIGHUPs in start-up, SIGTERM: %v\n%s", sent, err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within 30 s of SIGTERM:\n%s", log.String())
	}
	// No certifier directory is configured, so each reload is a logged refusal.
	if !strings.Contains(log.String(), "reloading trusted keys") {
		t.Errorf("%d SIGHUPs during start-up, no reload logged:\n%s", sent, log.String())
	}
}

// httpStatus is the status code of a GET of url, 0 when there is no answer.
func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// runWithin runs cmd and returns its combined output, killing it after d.
func runWithin(t *testing.T, cmd *exec.Cmd, d time.Duration) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), err
}
