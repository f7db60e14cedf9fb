package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
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

// dialFrom opens a TCP connection to addr from the local address ip (any of 127/8 on
// loopback), so a test can be several clients.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// askInfo sends GET /v1/info on c and returns the status code, or the error of a
// connection the server closed without answering.
func askInfo(c net.Conn) (int, error) {
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, "GET /v1/info HTTP/1.1\r\nHost: poet\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// One client's connections cannot take every slot of a listener: past its per-address
// limit its new connections are closed unanswered, while another client's /v1/info is
// answered; a slot freed is a slot to reuse. Past the listener's total, everyone waits.
func TestConnectionLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConns, cfg.MaxConnsPerIP = 6, 4
	e := startWith(t, &fakeBackend{}, cfg)
	addr := strings.TrimPrefix(e.base, "http://")

	var held []net.Conn
	for range 4 {
		c := dialFrom(t, "127.0.0.1", addr)
		if code, err := askInfo(c); err != nil || code != 200 {
			t.Fatalf("connection %d of the first client: %d %v", len(held)+1, code, err)
		}
		held = append(held, c)
	}
	if code, err := askInfo(dialFrom(t, "127.0.0.1", addr)); err == nil {
		t.Fatalf("a fifth connection from one address was answered (%d), want it closed", code)
	}
	if code, err := askInfo(dialFrom(t, "127.0.0.2", addr)); err != nil || code != 200 {
		t.Fatalf("another client's /v1/info while the first holds its limit: %d %v", code, err)
	}

	// A closed connection frees its slot (the server sees the close asynchronously).
	held[0].Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, err := askInfo(dialFrom(t, "127.0.0.1", addr))
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the freed slot was not reused: %d %v", code, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// 4 from .1 (three held, one reused), 1 from .2 and 1 from .3 fill the listener's 6.
	if code, err := askInfo(dialFrom(t, "127.0.0.3", addr)); err != nil || code != 200 {
		t.Fatalf("the sixth connection: %d %v", code, err)
	}
	if code, err := askInfo(dialFrom(t, "127.0.0.4", addr)); err == nil {
		t.Fatalf("a connection past the listener's limit was answered (%d)", code)
	}

	resp, err := http.Get(e.ops + "/metrics") // its own listener, with its own slots
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// Retries of the freed slot may have been refused too, so per_ip is at least 1.
	for _, want := range []string{
		`poet_server_connections\{listener="rest"\} 6\n`,
		`poet_server_connections_rejected_total\{listener="rest",reason="per_ip"\} [1-9][0-9]*\n`,
		`poet_server_connections_rejected_total\{listener="rest",reason="listener_full"\} 1\n`,
	} {
		if !regexp.MustCompile(want).Match(body) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
