package main

import (
	"bufio"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
)

// The start-up log names the service key as /v1/info and nodes' configs do, in base64;
// the text log printed its raw bytes.
func TestStartLogKeyIsBase64(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the poet binary")
	}
	cmd := exec.Command(testutil.BuildBinary(t, "."), "--poetdir", t.TempDir(), "--restlisten", "127.0.0.1:0", "--rpclisten", "127.0.0.1:0", "--config-rpclisten", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "starting poet") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the poet exited before its start-up line")
		}
		if !regexp.MustCompile(`servicePubkey="?[A-Za-z0-9+/]{43}="?( |$)`).MatchString(l) {
			t.Fatalf("servicePubkey is not base64 of 32 bytes in %q", l)
		}
	case <-time.After(time.Minute):
		t.Fatal("no start-up line within a minute")
	}
}
