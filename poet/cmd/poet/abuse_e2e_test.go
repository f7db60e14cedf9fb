package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
)

// Issue 10, row 4, redone on the binary: six concurrent gRPC calls of 200 MB each,
// without credentials, took the poet from 26 MB of RSS to 3.95 GB. Now each is refused
// from its length prefix, /v1/info answers meanwhile, and the process's peak RSS
// (VmHWM, whatever the machine's speed) stays far below one such message.
func TestHugeGRPCMessagesKeepRSSBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the poet binary")
	}
	p := newPoet(t, time.Hour)
	p.start()
	before := peakRSS(t, p.cmd.Process.Pid)

	conn, err := grpc.NewClient(p.rpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(256<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := apiv1.NewPoetServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	huge := &apiv1.SubmitRequest{Challenge: make([]byte, 200<<20)}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = client.Submit(ctx, huge) })
	}
	infoDone := make(chan error, 1)
	go func() {
		_, err := client.Info(ctx, &apiv1.InfoRequest{})
		infoDone <- err
	}()
	wg.Wait()
	for i, err := range errs {
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("200 MB call %d: %v, want ResourceExhausted", i, err)
		}
	}
	if err := <-infoDone; err != nil {
		t.Errorf("Info during the calls: %v", err)
	}
	if _, err := p.node().Info(ctx); err != nil {
		t.Errorf("REST /v1/info after the calls: %v", err)
	}
	after := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB before, %d MiB after six 200 MB calls", before>>20, after>>20)
	if after > 256<<20 {
		t.Errorf("peak RSS reached %d MiB (from %d MiB): the calls were buffered", after>>20, before>>20)
	}
	p.stop()
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}
