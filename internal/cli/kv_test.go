package cli_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMain_RunKV(t *testing.T) {
	s := testutil.RunNATS(t)
	js := jetStream(t, s)
	url := s.ClientURL()
	ctx := context.Background()

	t.Run("put creates the bucket and prints the revision; get prints the raw value", func(t *testing.T) {
		r := run(t, nil, nil, "kv", "put", "--nats", url, "cfg/app.db", "v1 $(reboot)")
		if r.err != nil || r.out != "1\n" {
			t.Fatalf("put: out %q err %v stderr %s", r.out, r.err, r.errOut)
		}
		kv, err := js.KeyValue(ctx, "cfg")
		if err != nil {
			t.Fatalf("bucket not created: %v", err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
		if st.History() != cli.KVHistory || info.Config.Storage != jetstream.FileStorage {
			t.Errorf("bucket history %d storage %v, want %d and file", st.History(), info.Config.Storage, cli.KVHistory)
		}
		// Flags before the verb work too.
		r = run(t, nil, nil, "kv", "--nats", url, "put", "cfg/app.db", "v2")
		if r.err != nil || r.out != "2\n" {
			t.Fatalf("second put: out %q err %v", r.out, r.err)
		}
		r = run(t, nil, nil, "kv", "get", "cfg/app.db", "--nats", url)
		if r.err != nil || r.out != "v2" {
			t.Fatalf("get: out %q err %v, want the raw value v2", r.out, r.err)
		}
	})

	t.Run("value from stdin, with - or none, kept byte for byte", func(t *testing.T) {
		binary := []byte{0, 'a', '\n', 0xff, 0, '\n'}
		for _, args := range [][]string{{"cfg/bin"}, {"cfg/bin", "-"}} {
			r := run(t, nil, bytes.NewReader(binary), append([]string{"kv", "put", "--nats", url}, args...)...)
			if r.err != nil {
				t.Fatalf("put %q: %v %s", args, r.err, r.errOut)
			}
			r = run(t, nil, nil, "kv", "get", "--nats", url, "cfg/bin")
			if r.err != nil || r.out != string(binary) {
				t.Fatalf("get after put %q: %q %v", args, r.out, r.err)
			}
		}
		// A value starting with '-' after --.
		r := run(t, nil, nil, "kv", "put", "--nats", url, "--", "cfg/dash", "-x")
		if r.err != nil {
			t.Fatal(r.err, r.errOut)
		}
		if r := run(t, nil, nil, "kv", "get", "--nats", url, "cfg/dash"); r.out != "-x" {
			t.Fatalf("get cfg/dash = %q", r.out)
		}
	})

	t.Run("HERALD_NATS is used without --nats", func(t *testing.T) {
		t.Setenv(cli.EnvNATS, url)
		r := run(t, nil, nil, "kv", "put", "env/k", "e")
		if r.err != nil || r.out != "1\n" {
			t.Fatalf("put: %q %v %s", r.out, r.err, r.errOut)
		}
	})

	t.Run("del deletes; a missing key exits 1 and writes no marker", func(t *testing.T) {
		if r := run(t, nil, nil, "kv", "put", "--nats", url, "cfg/gone", "x"); r.err != nil {
			t.Fatal(r.err)
		}
		r := run(t, nil, nil, "kv", "del", "--nats", url, "cfg/gone")
		if r.err != nil || r.out != "" {
			t.Fatalf("del: %q %v %s", r.out, r.err, r.errOut)
		}
		kv, _ := js.KeyValue(ctx, "cfg")
		hist, err := kv.History(ctx, "gone")
		if err != nil || len(hist) != 2 || hist[1].Operation() != jetstream.KeyValueDelete {
			t.Fatalf("history after del: %v %v", hist, err)
		}
		for _, verb := range []string{"get", "del"} {
			r := run(t, nil, nil, "kv", verb, "--nats", url, "cfg/gone")
			if r.code() != cli.ExitFailure || !errors.Is(r.err, cli.ErrKeyNotFound) || !strings.Contains(r.errOut, "key not found: cfg/gone") {
				t.Fatalf("%s of a deleted key: code %d err %v stderr %q", verb, r.code(), r.err, r.errOut)
			}
		}
		if hist, _ := kv.History(ctx, "gone"); len(hist) != 2 {
			t.Fatalf("del of a deleted key wrote a marker: %d entries", len(hist))
		}
		r = run(t, nil, nil, "kv", "del", "--nats", url, "cfg/never")
		if r.code() != cli.ExitFailure {
			t.Fatalf("del of a missing key: code %d", r.code())
		}
		if _, err := kv.History(ctx, "never"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("del of a missing key wrote something: %v", err)
		}
	})

	t.Run("get of a missing bucket exits 1 and creates nothing", func(t *testing.T) {
		r := run(t, nil, nil, "kv", "get", "--nats", url, "nobucket/k")
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "bucket nobucket does not exist") {
			t.Fatalf("code %d stderr %q", r.code(), r.errOut)
		}
		if _, err := js.KeyValue(ctx, "nobucket"); !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Fatalf("get created the bucket: %v", err)
		}
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"kv"},
			{"kv", "frob", "cfg/a"},
			{"kv", "get", "cfg"},
			{"kv", "get", "cfg/a.>"},
			{"kv", "get", "bad bucket/a"},
			{"kv", "get", "cfg/.a"},
			{"kv", "get", "cfg/a", "cfg/b"},
			{"kv", "put"},
			{"kv", "put", "cfg/a", "v", "extra"},
			{"kv", "get", "--bogus", "cfg/a"},
		} {
			r := run(t, nil, nil, append(args, "--nats", url)...)
			if r.code() != cli.ExitUsage || r.errOut == "" {
				t.Errorf("%q: code %d stderr %q, want 2 with a message", args, r.code(), r.errOut)
			}
		}
	})

	t.Run("NATS unreachable exits 1", func(t *testing.T) {
		r := run(t, nil, nil, "kv", "get", "--nats", "nats://127.0.0.1:1", "--timeout", "2s", "cfg/a")
		if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "herald kv") {
			t.Fatalf("code %d stderr %q", r.code(), r.errOut)
		}
	})
}
