// Package sighup catches SIGHUP from the earliest moment a Go program can: this
// package's initialisation. Until a program asks for SIGHUP, the runtime's default for
// it ends the process (status 129), and the poet's start (package initialisation of
// gRPC, protobuf and Prometheus, then opening its store) takes long enough for a
// supervisor's reload signal to land in it.
//
// Go initialises packages in import-path order once their own imports are done, so a
// package with only standard-library imports whose path sorts before the service's
// other dependencies runs before them. Import it from main for its side effect and
// read C.
package sighup

import (
	"os"
	"os/signal"
	"syscall"
)

// C receives every SIGHUP delivered since the program's initialisation reached this
// package (one pending signal is kept while nobody reads).
var C = notify()

func notify() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	return c
}

// Reset restores the default action, for one-shot commands that should end on a hangup.
func Reset() { signal.Reset(syscall.SIGHUP) }
