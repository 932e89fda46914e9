package events

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// Message ids are dedup keys stored on the bus: the digest must hash the
// same bytes whatever version of Herald computes it ("LEN:FIELD;" each,
// as it always has), or an upgraded agent's re-sent outcome would be
// stored twice.
func TestDigest_SameBytesAsEver(t *testing.T) {
	ref := func(fields ...string) string {
		h := sha256.New()
		for _, f := range fields {
			fmt.Fprintf(h, "%d:%s;", len(f), f)
		}
		return hex.EncodeToString(h.Sum(nil)[:16])
	}
	for _, fields := range [][]string{
		nil,
		{""},
		{"zk:///app", "/app/config", "42"},
		{"a:b", "c"},
		{"a", "b:c"},
		{strings.Repeat("x", 1000), "ünïcödé"},
	} {
		if got, want := digest(fields...), ref(fields...); got != want {
			t.Errorf("digest(%q) = %s, want %s", fields, got, want)
		}
	}
	if digest("a:b", "c") == digest("a", "b:c") {
		t.Error("fields with a colon moved between them hash the same")
	}
}
