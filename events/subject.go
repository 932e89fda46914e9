package events

import (
	"errors"
	"fmt"
	"strings"
)

// Subject roots. Everything Herald publishes lives under "herald.".
const (
	EventPrefix   = "herald.event"
	OutcomePrefix = "herald.outcome"
	AgentPrefix   = "herald.agent"
)

// ErrBadSubject is returned when a subject or token cannot be decoded.
var ErrBadSubject = errors.New("bad subject")

// Keys are mapped onto NATS subject tokens so that JetStream can filter by
// key on the server. A key is split on "/" into segments; each segment
// becomes one token, prefixed with "/" (or ":" for the first segment of a
// key that does not start with "/"), and with every byte outside
// [A-Za-z0-9_=@+,~:-] written as %XX. Type tokens always start with a
// letter or digit, so the first key token is unambiguous:
//
//	/git/head    -> /git./head
//	app.config   -> :app%2Econfig
//	a/b c        -> :a./b%20c
//	/            -> /
//
// EncodeKey and DecodeKey are exact inverses for every string.

func safeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '=', '@', '+', ',', '~', ':':
		return true
	}
	return false
}

func escapeSegment(b *strings.Builder, seg string) {
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
}

// EncodeKey returns the subject tokens (joined by ".") for key.
func EncodeKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	segs := strings.Split(key, "/")
	if strings.HasPrefix(key, "/") {
		segs = segs[1:]
		for i, s := range segs {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteByte('/')
			escapeSegment(&b, s)
		}
		return b.String()
	}
	for i, s := range segs {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteString("./")
		}
		escapeSegment(&b, s)
	}
	return b.String()
}

// DecodeKey inverts EncodeKey.
func DecodeKey(tokens string) (string, error) {
	if tokens == "" {
		return "", fmt.Errorf("%w: empty key", ErrBadSubject)
	}
	var b strings.Builder
	for i, tok := range strings.Split(tokens, ".") {
		if tok == "" {
			return "", fmt.Errorf("%w: empty token in key %q", ErrBadSubject, tokens)
		}
		switch {
		case tok[0] == '/':
			b.WriteByte('/')
		case tok[0] == ':' && i == 0:
		default:
			return "", fmt.Errorf("%w: key token %q must start with '/' (or ':' first)", ErrBadSubject, tok)
		}
		seg, err := unescapeBytes(tok[1:])
		if err != nil {
			return "", fmt.Errorf("%w: key token %q: %w", ErrBadSubject, tok, err)
		}
		b.WriteString(seg)
	}
	return b.String(), nil
}

// EventSubject is herald.event.<type tokens>.<encoded key>.
func EventSubject(typ, key string) string {
	return EventPrefix + "." + typ + "." + EncodeKey(key)
}

// ParseEventSubject splits an event subject into its type and key.
func ParseEventSubject(subject string) (typ, key string, err error) {
	rest, ok := strings.CutPrefix(subject, EventPrefix+".")
	if !ok {
		return "", "", fmt.Errorf("%w: %q does not start with %s.", ErrBadSubject, subject, EventPrefix)
	}
	toks := strings.Split(rest, ".")
	n := 0
	for n < len(toks) && toks[n] != "" && toks[n][0] != '/' && toks[n][0] != ':' {
		n++
	}
	if n == 0 || n == len(toks) {
		return "", "", fmt.Errorf("%w: %q has no type or no key", ErrBadSubject, subject)
	}
	typ = strings.Join(toks[:n], ".")
	if err := ValidateType(typ); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrBadSubject, err)
	}
	key, err = DecodeKey(strings.Join(toks[n:], "."))
	return typ, key, err
}

// EncodeToken encodes any string as exactly one subject token (host and
// watch names in outcome and agent subjects). The empty string is "%".
func EncodeToken(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	escapeSegment(&b, s)
	return b.String()
}

// DecodeToken inverts EncodeToken.
func DecodeToken(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	s, err := unescapeBytes(tok)
	if err != nil {
		return "", fmt.Errorf("%w: token %q: %w", ErrBadSubject, tok, err)
	}
	return s, nil
}

// OutcomeSubject is herald.outcome.<host>.<watch>.
func OutcomeSubject(host, watch string) string {
	return OutcomePrefix + "." + EncodeToken(host) + "." + EncodeToken(watch)
}

// AgentSubject is herald.agent.<name>, where agents announce themselves.
func AgentSubject(name string) string {
	return AgentPrefix + "." + EncodeToken(name)
}
