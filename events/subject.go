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
	typ, enc, err := splitEventSubject(subject)
	if err != nil {
		return "", "", err
	}
	key, err = DecodeKey(enc)
	return typ, key, err
}

// splitEventSubject splits an event subject into its type and its encoded
// key without allocating: the type is the tokens up to the first one that
// starts with '/' or ':'.
func splitEventSubject(subject string) (typ, enc string, err error) {
	rest, ok := strings.CutPrefix(subject, EventPrefix+".")
	if !ok {
		return "", "", fmt.Errorf("%w: %q does not start with %q", ErrBadSubject, subject, EventPrefix+".")
	}
	i := 0
	for i < len(rest) && rest[i] != '.' && rest[i] != '/' && rest[i] != ':' {
		j := strings.IndexByte(rest[i:], '.')
		if j < 0 {
			i = len(rest)
			break
		}
		i += j + 1
	}
	if i == 0 || i >= len(rest) || rest[i-1] != '.' {
		return "", "", fmt.Errorf("%w: %q has no type or no key", ErrBadSubject, subject)
	}
	typ, enc = rest[:i-1], rest[i:]
	if err := ValidateType(typ); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrBadSubject, err)
	}
	return typ, enc, nil
}

// encodedKeyEquals reports whether EncodeKey(key) == enc, without
// allocating.
func encodedKeyEquals(enc, key string) bool {
	const hexd = "0123456789ABCDEF"
	j := 0
	put := func(c byte) bool {
		if j < len(enc) && enc[j] == c {
			j++
			return true
		}
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '/' && i == 0:
			if !put('/') {
				return false
			}
			continue
		case i == 0:
			if !put(':') {
				return false
			}
		case c == '/':
			if !put('.') || !put('/') {
				return false
			}
			continue
		}
		if safeByte(c) {
			if !put(c) {
				return false
			}
			continue
		}
		if !put('%') || !put(hexd[c>>4]) || !put(hexd[c&15]) {
			return false
		}
	}
	return key != "" && j == len(enc)
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

// LivePrefix is where the events stream republishes every event it has
// stored, for agents that follow it over core NATS: herald.event.T.K is
// republished as herald.live.T.K with the stream sequence in its headers.
// Only the server publishes here.
const LivePrefix = "herald.live"

// LiveSubject maps an event subject or filter onto its live republish.
func LiveSubject(eventSubject string) string {
	if rest, ok := strings.CutPrefix(eventSubject, EventPrefix+"."); ok {
		return LivePrefix + "." + rest
	}
	return eventSubject
}
