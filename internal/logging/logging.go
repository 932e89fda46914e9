// Package logging builds the zerolog logger every Herald binary uses: JSON
// lines by default, a console writer for people. It also holds the field
// names that every log line about a run carries and the check of a daemon
// config's log_format and log_level keys (CheckConfig).
package logging

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Field names shared by every log line about an event or a run.
const (
	FieldEventID = "event_id"
	FieldWatch   = "watch"
	FieldHost    = "host"
	FieldKey     = "key"
	FieldType    = "type"
	// FieldDescription is the watch's description, on every line about
	// a run of a watch that has one.
	FieldDescription = "description"
)

// Millis is d in milliseconds, for the *_ms fields that carry every
// duration in Herald's logs (zerolog's Dur depends on a global unit and
// its field names do not say it).
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// setTimeFormat sets zerolog's global time format once, before any logger
// of ours writes.
var setTimeFormat sync.Once

// New returns a logger writing to w in format "json" or "console" at level
// (debug, info, warn, error).
func New(w io.Writer, format, level string) (zerolog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	lvl := zerolog.InfoLevel
	if level != "" {
		l, err := zerolog.ParseLevel(level)
		if err != nil {
			return zerolog.Nop(), fmt.Errorf("log-level %q: %w", level, err)
		}
		lvl = l
	}
	switch format {
	case "", "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), fmt.Errorf("log-format %q: want json or console", format)
	}
	setTimeFormat.Do(func() { zerolog.TimeFieldFormat = time.RFC3339Nano })
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// OutcomeRetries is a bus.OutcomeStoreConfig.OnRetry that logs an outcome
// not stored yet at warn, with msg, its subject, message id and attempt.
func OutcomeRetries(log zerolog.Logger, msg string) func(subject, msgID string, attempt int, err error) {
	return func(subject, msgID string, attempt int, err error) {
		log.Warn().Err(err).Str("subject", subject).Str("msg_id", msgID).Int("attempt", attempt).Msg(msg)
	}
}
