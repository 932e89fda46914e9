package cli_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

type result struct {
	out, errOut string
	err         error
}

func (r result) code() int { return cli.ExitCode(r.err) }

// run executes herald in-process with a 30s deadline.
func run(t *testing.T, m *cli.Main, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if m == nil {
		m = &cli.Main{}
	}
	var out, errOut testutil.SyncBuffer
	err := m.Run(ctx, args, stdin, &out, &errOut)
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

// natsWithStreams starts a real NATS server and creates Herald's streams as
// the dispatcher would.
func natsWithStreams(t *testing.T) (*server.Server, jetstream.JetStream) {
	t.Helper()
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	return s, js
}

func jetStream(t *testing.T, s *server.Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(testutil.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
