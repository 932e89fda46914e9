package natsembed_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natsembed"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func TestStart_ReadyWithJetStream(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	s, err := natsembed.Start(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true},
		20*time.Second, zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream: %v", err)
	}
	if !strings.Contains(logs.String(), `"component":"nats-server"`) {
		t.Errorf("the server's log is not in zerolog:\n%s", logs)
	}
}

// A server that cannot start is an error naming the server's own reason,
// not an exit of the process.
func TestStart_TheServersErrorReturned(t *testing.T) {
	store := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(store, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	s, err := natsembed.Start(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: store, NoSigs: true},
		20*time.Second, zerolog.New(logs))
	if err == nil {
		s.Shutdown()
		t.Fatal("started with a store that is a file")
	}
	if !strings.Contains(err.Error(), "embedded nats server did not start") || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("error %v, want the server's reason (its storage directory is not a directory)", err)
	}
}
