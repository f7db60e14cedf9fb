package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
)

// A gRPC message larger than the receive limit is refused from its length prefix, before
// the server reads or allocates it (issue 10, row 4: six 200 MB calls took 26 MB of RSS to
// 3.95 GB when the limit was the send limit). The service keeps answering.
func TestGRPCReceiveLimit(t *testing.T) {
	e := start(t, &fakeBackend{})
	c := apiv1.NewPoetServiceClient(e.conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Submit(ctx, &apiv1.SubmitRequest{Challenge: make([]byte, 5<<20)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 5 MiB registration: %v, want ResourceExhausted", err)
	}
	if _, err := c.Info(ctx, &apiv1.InfoRequest{}); err != nil {
		t.Fatalf("info after the refused call: %v", err)
	}
	// Below the limit, a request reaches the service (which judges it on its merits).
	_, err = c.Submit(ctx, &apiv1.SubmitRequest{Challenge: make([]byte, 3<<20)})
	if status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("a 3 MiB request was refused by the transport: %v", err)
	}
}

// A request body sent a byte at a time is cut off after RequestTimeout; other clients
// are served meanwhile and after.
func TestRESTRequestTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.RequestTimeout = 300 * time.Millisecond
	e := startWith(t, &fakeBackend{}, cfg)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/submit HTTP/1.1\r\nHost: poet\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// Trickle a byte now and then until the server gives up on the body.
	done := make(chan error, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				err = errors.New(resp.Status)
			}
		} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
			err = nil // closed without an answer: also cut off
		}
		done <- err
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the trickled request: %v", err)
			}
			resp, err := http.Get(e.base + "/v1/info")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("info afterwards: %v", err)
			}
			resp.Body.Close()
			return
		case <-tick.C:
			conn.Write([]byte(" ")) // errors once the server has closed it; the reader reports
		}
	}
}
