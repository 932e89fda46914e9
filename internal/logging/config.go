package logging

import (
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/rs/zerolog"
)

// CheckConfig checks the log_format and log_level keys of a daemon's
// config (the dispatcher's, the agent's): format json or console, level
// debug, info, warn or error. A bad one is a fielderr.Error naming its key
// and wrapping sentinel, the config's own.
func CheckConfig(sentinel error, format, level string) error {
	if format != "json" && format != "console" {
		return fielderr.New(sentinel, "log_format", "%q: want json or console", format)
	}
	if _, err := zerolog.ParseLevel(level); err != nil || level == "" {
		return fielderr.New(sentinel, "log_level", "%q: want debug, info, warn or error", level)
	}
	return nil
}
