// Command pause is the sandbox ("pause") image's process for the test cluster: it holds a
// pod's namespaces and exits on SIGTERM or SIGINT, reaping nothing (pods here do not share
// a PID namespace).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
