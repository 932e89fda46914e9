package natsconn

import (
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"
)

// userinfo matches a URL's scheme and its userinfo (up to the last @ of
// the authority): nats://USER:PASS@ or nats://TOKEN@. The authority ends
// at a slash, a comma (the next URL of a list), a quote or a space.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^/\s,"'@]*(?:@[^/\s,"'@]*)*)@`)

// Redacted replaces a secret in a URL.
const Redacted = "xxxxx"

// RedactURLs returns s with the credentials of every URL in it replaced:
// nats://user:pass@host becomes nats://user:xxxxx@host and a token in the
// userinfo (nats://token@host) becomes nats://xxxxx@host. Every error and
// log line that may hold a URL given by a user goes through it.
func RedactURLs(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return userinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := userinfo.FindStringSubmatch(m)
		if user, _, ok := strings.Cut(sub[2], ":"); ok {
			return sub[1] + user + ":" + Redacted + "@"
		}
		return sub[1] + Redacted + "@"
	})
}

// RedactError returns err with RedactURLs applied to its message; errors.Is
// and errors.As still see the errors it wraps.
func RedactError(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}

type redactedError struct{ err error }

func (e redactedError) Error() string { return RedactURLs(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

// ConnectedURL is the URL nc is connected to, with its credentials
// redacted (nats.Conn.ConnectedUrlRedacted keeps a token in the
// userinfo); "" while disconnected.
func ConnectedURL(nc *nats.Conn) string { return RedactURLs(nc.ConnectedUrl()) }
