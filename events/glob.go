package events

import (
	"fmt"
	"path"
	"strings"
)

// KeyGlob selects keys. It is matched segment by segment ("/" separates
// segments): within a segment '*', '?' and '[...]' work as in path.Match;
// a segment that is exactly "**" matches one or more whole segments. A glob
// with no wildcard selects exactly one key.
type KeyGlob struct {
	raw  string
	segs []string
}

// ParseKeyGlob validates a key glob.
func ParseKeyGlob(glob string) (KeyGlob, error) {
	if glob == "" {
		return KeyGlob{}, fmt.Errorf("key glob is empty")
	}
	segs := strings.Split(glob, "/")
	for _, s := range segs {
		if s == "**" {
			continue
		}
		if strings.Contains(s, "**") {
			return KeyGlob{}, fmt.Errorf("key glob %q: '**' must be a whole segment", glob)
		}
		if _, err := path.Match(s, ""); err != nil {
			return KeyGlob{}, fmt.Errorf("key glob %q: segment %q: %w", glob, s, err)
		}
	}
	return KeyGlob{raw: glob, segs: segs}, nil
}

// MustKeyGlob is ParseKeyGlob for constants; it panics on error.
func MustKeyGlob(glob string) KeyGlob {
	g, err := ParseKeyGlob(glob)
	if err != nil {
		panic(err)
	}
	return g
}

func (g KeyGlob) String() string { return g.raw }

// Literal reports whether the glob selects exactly one key.
func (g KeyGlob) Literal() bool {
	for _, s := range g.segs {
		if hasMeta(s) {
			return false
		}
	}
	return true
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// Match reports whether key is selected by the glob.
func (g KeyGlob) Match(key string) bool {
	return matchSegs(g.segs, strings.Split(key, "/"))
}

func matchSegs(glob, key []string) bool {
	for len(glob) > 0 {
		if glob[0] == "**" {
			rest := glob[1:]
			for i := 1; i <= len(key); i++ {
				if matchSegs(rest, key[i:]) {
					return true
				}
			}
			return false
		}
		if len(key) == 0 {
			return false
		}
		if hasMeta(glob[0]) {
			ok, _ := path.Match(glob[0], key[0])
			if !ok {
				return false
			}
		} else if glob[0] != key[0] {
			return false
		}
		glob, key = glob[1:], key[1:]
	}
	return len(key) == 0
}

// SubjectFilter returns the NATS subject filter for events of typ whose
// key may match the glob. Every matching key's subject matches the filter;
// when the glob has wildcards inside a segment or a "**" before its last
// segment, the filter is wider and Match decides.
func (g KeyGlob) SubjectFilter(typ string) string {
	prefix := EventPrefix + "." + typ + "."
	if g.Literal() {
		return prefix + EncodeKey(g.raw)
	}
	// Build the tokens the way EncodeKey does, replacing wildcard segments.
	segs := g.segs
	lead := ":"
	if strings.HasPrefix(g.raw, "/") {
		segs = segs[1:]
		lead = "/"
	} else if hasMeta(segs[0]) {
		// An unrooted glob whose first segment is a wildcard may match the
		// empty first segment of a rooted key ("*/a" matches "/a"), whose
		// tokens are one fewer: only ">" covers both.
		return prefix + ">"
	}
	var b strings.Builder
	b.WriteString(prefix)
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
			lead = "/"
		}
		switch {
		case s == "**":
			b.WriteByte('>')
			return b.String()
		case hasMeta(s):
			b.WriteByte('*')
		default:
			b.WriteString(lead)
			escapeSegment(&b, s)
		}
	}
	return b.String()
}
