package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/poet-operator/poet-operator/poet/config"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// dbCheckMain is `poet db check [poet flags]`: the consistency check poet runs on
// <dbdir>/registrations.db before it starts, offline and read-only. It exits 0 when the
// store is intact, 1 when it is damaged (with what is at risk and what to do).
func dbCheckMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, os.Getenv)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprintln(stdout, "usage: poet db check [poet flags]")
		fmt.Fprintln(stdout, err)
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "poet db check:", err)
		return 2
	}
	path := filepath.Join(cfg.DbDir, "registrations.db")
	err = registration.CheckStore(path)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "poet db check: no store at %s (has poet run with this --dbdir?)\n", path)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "poet db check:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: intact\n", path)
	return 0
}
