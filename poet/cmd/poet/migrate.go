package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/poet-operator/poet-operator/poet/config"
	"github.com/poet-operator/poet-operator/poet/identity"
	"github.com/poet-operator/poet-operator/poet/migrate"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// importReference imports a reference poet's databases found in the configured
// directories (see package migrate) into the registry. It runs at every start: what was
// imported before is not imported again, and the reference's files are only read.
func importReference(cfg *config.Config, registry *registration.Registry, key ed25519.PrivateKey, log *slog.Logger) error {
	ref, err := migrate.Read(cfg.DbDir, cfg.DataDir, func(round uint64) bool {
		has, err := registry.HasProof(round)
		return err == nil && has
	})
	if err != nil {
		return fmt.Errorf("reading the reference poet's databases in %s: %w", cfg.DbDir, err)
	}
	if !ref.Found {
		return nil
	}
	pub := key.Public().(ed25519.PublicKey)
	s, err := migrate.Import(ref, registry, pub, log)
	if err != nil {
		return fmt.Errorf("importing the reference poet's databases in %s: %w", cfg.DbDir, err)
	}
	log.Info("reference poet data directory checked", "dbdir", cfg.DbDir, "roundsImported", s.RoundsImported,
		"membersAdded", s.MembersAdded, "proofsImported", s.ProofsImported, "notImported", len(s.Skipped))
	return nil
}

// migrateMain is `poet migrate [--dry-run] [poet flags]`: it imports the reference's
// databases into this service's store (what every start does) and exits; with --dry-run
// it only prints what would be imported, writing nothing.
func migrateMain(args []string, stdout, stderr io.Writer) int {
	dry := slices.Contains(args, "--dry-run")
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--dry-run" })
	cfg, code := loadCommandConfig("poet migrate", "[--dry-run] [poet flags]", args, stdout, stderr)
	if cfg == nil {
		return code
	}
	log := newLogger(stderr, cfg)
	if dry {
		ref, err := migrate.Read(cfg.DbDir, cfg.DataDir, nil)
		if err != nil {
			fmt.Fprintln(stderr, "poet migrate:", err)
			return 1
		}
		var pub []byte
		if b, err := os.ReadFile(filepath.Join(cfg.DataDir, identity.StateFile)); err != nil {
			fmt.Fprintf(stdout, "no service key in %s: one would be created\n", cfg.DataDir)
		} else if k, err := identity.DecodeState(b); err != nil {
			fmt.Fprintf(stdout, "service key: %v\n", err)
		} else {
			pub = k.Public().(ed25519.PublicKey)
			fmt.Fprintf(stdout, "service key (datadir/state.bin): %x\n", pub)
		}
		migrate.Describe(stdout, ref, pub)
		return 0
	}
	if err := migrateRun(cfg, log); err != nil {
		fmt.Fprintln(stderr, "poet migrate:", err)
		return 1
	}
	return 0
}

func migrateRun(cfg *config.Config, log *slog.Logger) error {
	key, err := identity.Load(cfg.DataDir, string(cfg.PrivateKey))
	if err != nil {
		return fmt.Errorf("loading the service key: %w", err)
	}
	if err := checkSchedule(cfg, log); err != nil {
		return err
	}
	rc := cfg.Registration
	registry, err := registration.Open(filepath.Join(cfg.DbDir, "registrations.db"), cfg.Schedule(), registration.Config{
		PowDifficulty:   uint32(rc.PowDifficulty),
		MaxRoundMembers: rc.MaxRoundMembers,
	}, registration.WithLogger(log.With("component", "registration")))
	if err != nil {
		return fmt.Errorf("opening registrations: %w", err)
	}
	return errors.Join(importReference(cfg, registry, key, log), registry.Close())
}
