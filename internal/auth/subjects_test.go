package auth_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/auth"
)

func TestPublisherSubjects(t *testing.T) {
	cases := []struct {
		types, keys []string
		want        []string
	}{
		{[]string{"deploy"}, nil, []string{"herald.event.deploy.>"}},
		{[]string{"deploy.*"}, []string{"/app/**"}, []string{"herald.event.deploy.*./app.>"}},
		{[]string{"git.>"}, nil, []string{"herald.event.git.>"}},
		{[]string{"a", "b.c"}, []string{"/x", "y/*"}, []string{"herald.event.a./x", "herald.event.a.:y.*", "herald.event.b.c./x", "herald.event.b.c.:y.*"}},
		{[]string{"a"}, []string{"/srv/*/conf"}, []string{"herald.event.a./srv.*./conf"}},
		{[]string{"a"}, []string{"/x y/z.json"}, []string{"herald.event.a./x%20y./z%2Ejson"}},
	}
	for _, c := range cases {
		got, err := auth.PublisherSubjects(c.types, c.keys)
		if err != nil {
			t.Errorf("PublisherSubjects(%q, %q): %v", c.types, c.keys, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("PublisherSubjects(%q, %q) = %q, want %q", c.types, c.keys, got, c.want)
		}
	}
}

// Every subject a granted key glob allows is the subject of a key the
// glob matches, and back: the conversion is exact for what it accepts.
func TestPublisherSubjects_ExactForKeys(t *testing.T) {
	globs := []string{"/app/**", "/srv/*/conf", "y/*", "/x", "lit"}
	keys := []string{"/app/a", "/app/a/b", "/app", "/srv/a/conf", "/srv/a/b/conf", "/srv//conf", "y/a", "y", "y/a/b", "/x", "/x/y", "lit", "/lit", "a/lit"}
	for _, g := range globs {
		subs, err := auth.PublisherSubjects([]string{"t"}, []string{g})
		if err != nil {
			t.Fatal(err)
		}
		kg := events.MustKeyGlob(g)
		for _, k := range keys {
			if got, want := subjectMatch(subs[0], events.EventSubject("t", k)), kg.Match(k); got != want {
				t.Errorf("glob %q (%s), key %q: subject allowed %v, glob matches %v", g, subs[0], k, got, want)
			}
		}
	}
}

func TestPublisherSubjects_Refused(t *testing.T) {
	cases := []struct {
		types, keys []string
		flag, says  string
	}{
		{[]string{"zk.*"}, nil, "--types", "reserved"},
		{[]string{"kv.put"}, nil, "--types", "reserved"},
		{[]string{"call.post"}, nil, "--types", "reserved"},
		{[]string{"op.>"}, nil, "--types", "reserved"},
		{[]string{"*.x"}, nil, "--types", "reserved"},
		{[]string{">"}, nil, "--types", "reserved"},
		{[]string{"web-*"}, nil, "--types", "inside a token"},
		{[]string{"a.>.b"}, nil, "--types", "last token"},
		{[]string{"Deploy"}, nil, "--types", "want [a-z0-9_-]"},
		{[]string{"git.>"}, []string{"/x"}, "--types", "cannot be combined"},
		{nil, nil, "--types", "at least one"},
		{[]string{"a"}, []string{"/web-*"}, "--keys", "inside a segment"},
		{[]string{"a"}, []string{"/a/?"}, "--keys", "inside a segment"},
		{[]string{"a"}, []string{"/a/**/b"}, "--keys", "last segment"},
		{[]string{"a"}, []string{"*/a"}, "--keys", "unrooted"},
		{[]string{"a"}, []string{"/a**"}, "--keys", "whole segment"},
	}
	for _, c := range cases {
		_, err := auth.PublisherSubjects(c.types, c.keys)
		if err == nil || !errors.Is(err, auth.ErrInvalidGrant) || !strings.Contains(err.Error(), c.flag+":") || !strings.Contains(err.Error(), c.says) {
			t.Errorf("PublisherSubjects(%q, %q) = %v, want an ErrInvalidGrant naming %s saying %q", c.types, c.keys, err, c.flag, c.says)
		}
	}
}

// subjectMatch is NATS's subject matching: '*' one token, '>' one or more.
func subjectMatch(filter, subj string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subj, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}
