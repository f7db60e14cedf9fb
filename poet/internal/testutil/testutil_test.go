package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMustTime(t *testing.T) {
	got := MustTime(t, "2024-01-02T03:04:05.5Z")
	if want := time.Date(2024, 1, 2, 3, 4, 5, 5e8, time.UTC); !got.Equal(want) {
		t.Fatalf("MustTime = %v, want %v", got, want)
	}
}

func TestClockStandsUntilSet(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(start)
	time.Sleep(time.Millisecond)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Set(start.Add(-time.Hour))
	if got := c.Now(); !got.Equal(start.Add(-time.Hour)) {
		t.Fatalf("after Set back: Now = %v", got)
	}
}

func TestBackgroundStopsWithTheTest(t *testing.T) {
	stopped := make(chan struct{})
	t.Run("service", func(t *testing.T) {
		exited := Background(t, func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return nil
		})
		select {
		case <-exited:
			t.Fatal("exited before the test ended")
		case <-time.After(10 * time.Millisecond):
		}
	})
	select {
	case <-stopped:
	default:
		t.Fatal("still running after its test ended")
	}
}

// A tiny main package in a temporary module: built once, the second call gives the same
// file, and the binary runs.
func TestBuildBinaryBuildsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.21\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	bin := BuildBinary(t, ".")
	if filepath.Base(bin) != filepath.Base(dir) {
		t.Errorf("binary %s, want it named after the package directory %s", bin, filepath.Base(dir))
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if again := BuildBinary(t, "."); again != bin {
		t.Fatalf("second call gave %s, want the cached %s", again, bin)
	}
	if st2, err := os.Stat(bin); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Fatalf("the binary was rebuilt or removed (%v)", err)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Fatalf("running %s: %q, %v", bin, out, err)
	}
	os.RemoveAll(filepath.Dir(bin))
}
