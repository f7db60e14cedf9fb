package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poet-operator/poet-operator/poet/config"
)

func TestDBCheck(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load([]string{"--poetdir", dir}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateRun(cfg, newLogger(&bytes.Buffer{}, cfg)); err != nil { // creates the store
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if rc := dbCheckMain([]string{"--poetdir", dir}, &out, &errOut); rc != 0 || !strings.Contains(out.String(), "intact") {
		t.Fatalf("intact store: rc %d, %s %s", rc, out.String(), errOut.String())
	}
	if err := os.Truncate(filepath.Join(dir, "db", "registrations.db"), 8<<10); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if rc := dbCheckMain([]string{"--poetdir", dir}, &out, &errOut); rc != 1 || !strings.Contains(errOut.String(), "truncated") ||
		!strings.Contains(errOut.String(), "restore registrations.db from a backup") {
		t.Fatalf("truncated store: rc %d, %s", rc, errOut.String())
	}
}
