// Package natsembed starts an in-process nats-server, as the dispatcher
// embeds one: it waits until the server accepts clients with JetStream
// on, and sends the server's log to zerolog (a fatal error is logged and
// returned, never an exit). It must not know where the server's options
// come from (the dispatcher's config, an auth directory's trust), nor
// streams or what clients do on the bus.
package natsembed

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Start starts a server with opts and waits up to ready until it accepts
// clients with JetStream on; the server's log goes to log (component
// nats-server).
func Start(opts *server.Options, ready time.Duration, log zerolog.Logger) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	sl := &serverLogger{log: log.With().Str("component", "nats-server").Logger()}
	s.SetLoggerV2(sl, log.GetLevel() <= zerolog.DebugLevel, false, false)
	s.Start()
	if !s.ReadyForConnections(ready) || !s.JetStreamEnabled() {
		s.Shutdown()
		s.WaitForShutdown()
		if msg := sl.lastError(); msg != "" {
			return nil, fmt.Errorf("embedded nats server did not start: %s", msg)
		}
		return nil, fmt.Errorf("embedded nats server not ready within %v", ready)
	}
	return s, nil
}

// serverLogger sends the embedded server's log to zerolog. Notices (the
// start-up banner among them) are debug, since the dispatcher logs its own
// "dispatcher ready" line with the addresses; a fatal error is logged as an error and remembered rather than
// exiting the process.
type serverLogger struct {
	log  zerolog.Logger
	mu   sync.Mutex
	last string
}

func (l *serverLogger) remember(msg string) {
	l.mu.Lock()
	l.last = msg
	l.mu.Unlock()
}

func (l *serverLogger) lastError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }

func (l *serverLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.remember(msg)
	l.log.Error().Msg(msg)
}

func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.remember(msg)
	l.log.Error().Bool("fatal", true).Msg(msg)
}
