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

// loadCommandConfig loads the poet flags of a one-shot command such as "poet db check".
// A nil config ends the command with the code: 0 after --help (the usage and the flags
// on stdout), 2 after a bad flag (on stderr).
func loadCommandConfig(command, usage string, args []string, stdout, stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load(args, os.Getenv)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprintln(stdout, "usage:", command, usage)
		fmt.Fprintln(stdout, err)
		return nil, 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
		return nil, 2
	}
	return cfg, 0
}

// dbCheckMain is `poet db check [poet flags]`: the consistency check poet runs on
// <dbdir>/registrations.db before it starts, offline and read-only. It exits 0 when the
// store is intact, 1 when it is damaged (with what is at risk and what to do).
func dbCheckMain(args []string, stdout, stderr io.Writer) int {
	cfg, code := loadCommandConfig("poet db check", "[poet flags]", args, stdout, stderr)
	if cfg == nil {
		return code
	}
	path := filepath.Join(cfg.DbDir, "registrations.db")
	err := registration.CheckStore(path)
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
