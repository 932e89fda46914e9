package auth

import (
	"errors"
	"strings"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
)

// ErrInvalidGrant wraps a type or key glob that cannot be granted: a
// reserved type, or a glob a NATS subject permission cannot express
// exactly. A permission is never widened to fit a glob.
var ErrInvalidGrant = errors.New("invalid grant")

// typeFilter turns a type glob into subject tokens: each token is a
// literal type token, '*' (one token) or, last, '>' (the rest). A wildcard
// inside a token ("web-*") has no subject equivalent.
func typeFilter(glob string) (string, error) {
	if glob == "" {
		return "", fielderr.New(ErrInvalidGrant, "--types", "empty type glob")
	}
	toks := strings.Split(glob, ".")
	for _, tok := range toks {
		if tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>?[]\\") {
			return "", fielderr.New(ErrInvalidGrant, "--types", "%q: a wildcard inside a token (%q) has no NATS subject permission; use whole tokens ('*', '>')", glob, tok)
		}
	}
	if IsReservedType(glob) {
		return "", fielderr.New(ErrInvalidGrant, "--types", "%q is reserved (%s and any glob starting with a wildcard are the sources' and the dispatchers')", glob, strings.Join(ReservedTypes, ", "))
	}
	for i, tok := range toks {
		switch {
		case tok == "*":
		case tok == ">":
			if i != len(toks)-1 {
				return "", fielderr.New(ErrInvalidGrant, "--types", "%q: '>' must be the last token", glob)
			}
		default:
			if err := events.ValidateType(tok); err != nil {
				return "", fielderr.New(ErrInvalidGrant, "--types", "%q: token %q: want [a-z0-9_-] starting with a letter or digit", glob, tok)
			}
		}
	}
	return glob, nil
}

// keyFilter turns a key glob into the subject tokens of the keys it
// matches, exactly: literal segments are encoded as events.EncodeKey does,
// a segment that is exactly '*' becomes '*' and a last segment '**'
// becomes '>'. Wildcards inside a segment ("web-*", "?"), a '**' before
// the last segment and an unrooted glob starting with a wildcard would
// need a wider filter, and are refused.
func keyFilter(glob string) (string, error) {
	g, err := events.ParseKeyGlob(glob)
	if err != nil {
		return "", fielderr.New(ErrInvalidGrant, "--keys", "%v", err)
	}
	if g.Literal() {
		return events.EncodeKey(glob), nil
	}
	segs := strings.Split(glob, "/")
	if !strings.HasPrefix(glob, "/") && isWild(segs[0]) {
		return "", fielderr.New(ErrInvalidGrant, "--keys", "%q: an unrooted glob starting with a wildcard also matches rooted keys; no NATS subject permission says exactly that (start it with '/' or a literal segment)", glob)
	}
	for i, s := range segs {
		switch {
		case s == "**" && i != len(segs)-1:
			return "", fielderr.New(ErrInvalidGrant, "--keys", "%q: '**' only as the last segment has a NATS subject permission", glob)
		case s != "*" && s != "**" && isWild(s):
			return "", fielderr.New(ErrInvalidGrant, "--keys", "%q: a wildcard inside a segment (%q) has no NATS subject permission; use whole segments ('*', a last '**')", glob, s)
		}
	}
	// SubjectFilter is exact for whole-segment wildcards (tested in
	// package events); it is built under a placeholder type.
	f := g.SubjectFilter("t")
	return strings.TrimPrefix(f, events.EventPrefix+".t."), nil
}

func isWild(seg string) bool { return strings.ContainsAny(seg, `*?[\`) }

// PublisherSubjects are the event subjects a publisher granted types and
// keys (keys empty: every key) may publish on. Every type glob is checked
// against ReservedTypes and every glob must have an exact subject form;
// the first that does not is the error, naming its flag (--types or
// --keys).
//
// Without keys a type T is granted as herald.event.T.>, which also covers
// types under T (T.x): NATS cannot tell a type's tokens from a key's. A
// '>' type glob can only be granted without keys.
func PublisherSubjects(types, keys []string) ([]string, error) {
	if len(types) == 0 {
		return nil, fielderr.New(ErrInvalidGrant, "--types", "at least one type glob is required")
	}
	var kf []string
	for _, k := range keys {
		f, err := keyFilter(k)
		if err != nil {
			return nil, err
		}
		kf = append(kf, f)
	}
	var out []string
	for _, t := range types {
		tf, err := typeFilter(t)
		if err != nil {
			return nil, err
		}
		last := tf[strings.LastIndexByte(tf, '.')+1:]
		switch {
		case last == ">" && len(kf) > 0:
			return nil, fielderr.New(ErrInvalidGrant, "--types", "%q: a type glob ending in '>' cannot be combined with --keys (the key's tokens would follow a variable number of type tokens)", t)
		case last == ">":
			out = append(out, events.EventPrefix+"."+tf)
		case len(kf) == 0:
			out = append(out, events.EventPrefix+"."+tf+".>")
		default:
			for _, k := range kf {
				out = append(out, events.EventPrefix+"."+tf+"."+k)
			}
		}
	}
	return out, nil
}
