package zkconn

// Connecting: the client with its messages in the debug log, and the
// digest credential added (the client re-sends it after every reconnect)
// until ZooKeeper accepts it.

import (
	"context"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rs/zerolog"
)

// Connect starts the client for c; onEvent receives every watch
// notification and session change from the client's receive loop and must
// never block (see Inbox). The client connects, and reconnects, in the
// background: an ensemble that is down is not an error.
func Connect(c Config, log zerolog.Logger, onEvent func(zk.Event)) (*zk.Conn, error) {
	conn, _, err := zk.Connect(c.ServerList(), c.Timeout(),
		zk.WithEventCallback(onEvent), zk.WithLogger(clientLogger{log}), zk.WithLogInfo(false))
	if err != nil {
		return nil, fmt.Errorf("zk: connect: %w", err)
	}
	return conn, nil
}

// clientLogger sends the client's own messages to the debug log; the
// source logs connection changes itself.
type clientLogger struct{ log zerolog.Logger }

func (l clientLogger) Printf(format string, args ...any) {
	l.log.Debug().Str("client", fmt.Sprintf(format, args...)).Msg("zk client")
}

// Authenticate adds c's digest credential to conn, retrying every retry
// until it is accepted or ctx ends; without Auth it returns at once. The
// credential is never logged.
func Authenticate(ctx context.Context, conn *zk.Conn, c Config, log zerolog.Logger, retry time.Duration) {
	if c.Auth == "" {
		return
	}
	scheme, cred, _ := c.Digest()
	for {
		err := conn.AddAuth(scheme, []byte(cred))
		if err == nil || ctx.Err() != nil {
			return
		}
		log.Warn().Err(err).Msg("zk: adding auth; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}
