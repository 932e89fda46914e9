package events_test

import (
	"math/rand"
	"strings"
	"testing"
	"testing/quick"
	"unicode/utf8"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats-server/v2/server"
)

func TestEncodeKey_Examples(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"/git/head", "/git./head"},
		{"app.config", ":app%2Econfig"},
		{"a/b c", ":a./b%20c"},
		{"/", "/"},
		{"a//b", ":a././b"},
		{"/a/*/>", "/a./%2A./%3E"},
		{"ключ", ":%D0%BA%D0%BB%D1%8E%D1%87"},
	} {
		if got := events.EncodeKey(tc.key); got != tc.want {
			t.Errorf("EncodeKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
		got, err := events.DecodeKey(events.EncodeKey(tc.key))
		if err != nil || got != tc.key {
			t.Errorf("DecodeKey(EncodeKey(%q)) = %q, %v", tc.key, got, err)
		}
	}
}

// randomKey draws keys heavy in the characters that matter: separators,
// NATS wildcards, spaces, escapes and multi-byte UTF-8.
func randomKey(r *rand.Rand) string {
	alphabet := []string{"/", "/", ".", "*", ">", " ", "%", ":", "a", "b", "Z", "0", "-", "_", "\t", "\n", "é", "☃", "\x00", "$", "~"}
	n := r.Intn(12)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[r.Intn(len(alphabet))])
	}
	if r.Intn(8) == 0 {
		// some fully random bytes, not necessarily valid UTF-8
		for range r.Intn(6) {
			b.WriteByte(byte(r.Intn(256)))
		}
	}
	return b.String()
}

func TestEncodeKey_RoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	check := func(key string) bool {
		enc := events.EncodeKey(key)
		subj := events.EventSubject("zk.changed", key)
		if !server.IsValidLiteralSubject(subj) {
			t.Errorf("subject %q for key %q is not a valid literal NATS subject", subj, key)
			return false
		}
		dec, err := events.DecodeKey(enc)
		if err != nil || dec != key {
			t.Errorf("round trip %q -> %q -> %q (%v)", key, enc, dec, err)
			return false
		}
		typ, k2, err := events.ParseEventSubject(subj)
		if err != nil || typ != "zk.changed" || k2 != key {
			t.Errorf("ParseEventSubject(%q) = %q %q %v", subj, typ, k2, err)
			return false
		}
		return true
	}
	for range 20000 {
		if !check(randomKey(r)) {
			return
		}
	}
	// and arbitrary strings from testing/quick
	if err := quick.Check(check, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeToken_RoundTripProperty(t *testing.T) {
	f := func(s string) bool {
		tok := events.EncodeToken(s)
		if strings.ContainsAny(tok, ".*> \t\r\n") || tok == "" {
			return false
		}
		got, err := events.DecodeToken(tok)
		return err == nil && got == s
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 20000}); err != nil {
		t.Fatal(err)
	}
	if !f("") || !f("web-1.example.com") || !f("%") {
		t.Fatal("edge cases")
	}
}

func TestDecodeKey_RejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "abc", "/a.b", "/a.", "/%4", "/%zz", ":a.:b", "/a..b"} {
		if _, err := events.DecodeKey(s); err == nil {
			t.Errorf("DecodeKey(%q) accepted", s)
		}
	}
}

func randomGlob(r *rand.Rand) string {
	parts := []string{"", "a", "b", "*", "**", "a*", "?", "[ab]", "x.y", "é"}
	n := 1 + r.Intn(4)
	segs := make([]string, n)
	for i := range segs {
		segs[i] = parts[r.Intn(len(parts))]
	}
	return strings.Join(segs, "/")
}

// TestKeyGlob_SubjectFilterProperty proves that a glob's subject filter
// lets through every key the glob matches (so the server never hides a
// match), and that for globs made of whole-segment wildcards only, the
// filter and the glob agree exactly.
func TestKeyGlob_SubjectFilterProperty(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	keyParts := []string{"", "a", "b", "ab", "x.y", "é", "*", "c"}
	for range 20000 {
		gs := randomGlob(r)
		g, err := events.ParseKeyGlob(gs)
		if err != nil {
			continue
		}
		filter := g.SubjectFilter("t.x")
		if !server.IsValidSubject(filter) {
			t.Fatalf("glob %q: invalid filter %q", gs, filter)
		}
		exact := true
		for _, s := range strings.Split(gs, "/") {
			if s != "*" && s != "**" && strings.ContainsAny(s, "*?[") {
				exact = false
			}
		}
		if i := strings.Index(gs, "**"); i >= 0 && i != len(gs)-2 {
			exact = false // ** before the last segment widens to '>'
		}
		if first := strings.TrimPrefix(gs, "/"); strings.HasPrefix(first, "*") {
			// A wildcard first token cannot tell rooted keys ("/a") from
			// unrooted ones (":a"); Match decides.
			exact = false
		}
		for range 20 {
			n := 1 + r.Intn(5)
			segs := make([]string, n)
			for i := range segs {
				segs[i] = keyParts[r.Intn(len(keyParts))]
			}
			key := strings.Join(segs, "/")
			if key == "" || !utf8.ValidString(key) {
				continue
			}
			subj := events.EventSubject("t.x", key)
			inFilter := server.SubjectMatchesFilter(subj, filter)
			matched := g.Match(key)
			if matched && !inFilter {
				t.Fatalf("glob %q matches key %q but filter %q drops subject %q", gs, key, filter, subj)
			}
			if exact && inFilter != matched {
				t.Fatalf("glob %q, key %q: filter %q says %v, glob says %v", gs, key, filter, inFilter, matched)
			}
		}
	}
}

func TestKeyGlob_Match(t *testing.T) {
	for _, tc := range []struct {
		glob, key string
		want      bool
	}{
		{"/git/head", "/git/head", true},
		{"/git/*", "/git/head", true},
		{"/git/*", "/git/a/b", false},
		{"/deploy/**", "/deploy/a/b/c", true},
		{"/deploy/**", "/deploy", false},
		{"/a/**/z", "/a/b/c/z", true},
		{"/a/**/z", "/a/z", false},
		{"app-*", "app-web", true},
		{"app-*", "/app-web", false},
	} {
		g := events.MustKeyGlob(tc.glob)
		if got := g.Match(tc.key); got != tc.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.glob, tc.key, got, tc.want)
		}
	}
	if _, err := events.ParseKeyGlob("/a**/b"); err == nil {
		t.Error("partial ** accepted")
	}
	if _, err := events.ParseKeyGlob("/[a"); err == nil {
		t.Error("bad class accepted")
	}
}
