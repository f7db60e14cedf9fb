package prover

import "syscall"

func threadID() int { return syscall.Gettid() }
