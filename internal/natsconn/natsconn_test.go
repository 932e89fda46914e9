package natsconn_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestConnect_AuthorizationRefusedAtStart(t *testing.T) {
	s := testutil.RunNATSWithOptions(t, &server.Options{Username: "herald", Password: "right"})
	for _, wait := range []time.Duration{0, 20 * time.Second} {
		c := natsconn.Config{URL: s.ClientURL(), User: "herald", Password: "wrong"}
		start := time.Now()
		nc, err := natsconn.Connect(c, "test", wait)
		if err == nil {
			nc.Close()
			t.Fatalf("wait %v: connected with a wrong password", wait)
		}
		if !natsconn.IsAuthError(err) || !strings.Contains(err.Error(), "nats: Authorization Violation") {
			t.Fatalf("wait %v: %v, want the server's authorization violation", wait, err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("the password is in the error: %v", err)
		}
		if d := time.Since(start); wait > 0 && d >= wait {
			t.Fatalf("wait %v: failed only after %v, not at the first refusal", wait, d)
		}
	}
	c := natsconn.Config{URL: s.ClientURL(), User: "herald", Password: "right"}
	nc, err := natsconn.Connect(c, "test", 0)
	if err != nil || !nc.IsConnected() {
		t.Fatalf("good password: %v", err)
	}
	nc.Close()
}

// A server that is not up at start is still retried in the background.
func TestConnect_ServerLaterUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	nc, err := natsconn.Connect(natsconn.Config{URL: "nats://127.0.0.1:" + strconv.Itoa(port)}, "test", 0)
	if err != nil {
		t.Fatalf("no server yet: %v, want a connection that retries", err)
	}
	defer nc.Close()
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
	testutil.RunNATSWithOptions(t, &server.Options{Port: port})
	testutil.Eventually(t, 20*time.Second, func() error {
		if !nc.IsConnected() {
			return nats.ErrNoServers
		}
		return nil
	})
}

// A server that comes up while Connect waits and refuses the credentials
// ends the wait at once with its message.
func TestConnect_LateServerRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	const wait = time.Minute
	done := make(chan error, 1)
	go func() {
		nc, err := natsconn.Connect(natsconn.Config{URL: "nats://127.0.0.1:" + strconv.Itoa(port), User: "herald", Password: "wrong"}, "test", wait)
		if nc != nil {
			nc.Close()
		}
		done <- err
	}()
	testutil.RunNATSWithOptions(t, &server.Options{Port: port, Username: "herald", Password: "right"})
	select {
	case err := <-done:
		if !natsconn.IsAuthError(err) || !strings.Contains(err.Error(), "nats: Authorization Violation") {
			t.Fatalf("Connect: %v, want the server's authorization violation", err)
		}
	case <-time.After(wait - 10*time.Second):
		t.Fatal("Connect still waiting although the server refused the credentials")
	}
}
