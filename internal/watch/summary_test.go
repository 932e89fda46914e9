package watch_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/watch"
)

// TestSummarySelector: a watch's announced summary carries its key: and
// types:, and the selector rebuilt from it matches exactly what the
// watch's own selector matches.
func TestSummarySelector(t *testing.T) {
	f, err := watch.Parse("w.yaml", []byte(`
watches:
  - name: deploys
    on: event:deploy.app
    key: "/app/**"
    exec: "true"
  - name: deletes
    on: zk:/app/**
    types: [zk.deleted]
    exec: "true"
  - name: kv
    on: kv:cfg/app.>
    exec: "true"
`))
	if err != nil {
		t.Fatal(err)
	}
	events := []struct{ typ, key string }{
		{"deploy.app", "/app/web"}, {"deploy.app", "/db/x"}, {"deploy.db", "/app/web"},
		{"zk.deleted", "/app/web"}, {"zk.changed", "/app/web"}, {"zk.deleted", "/other"},
		{"kv.put", "cfg/app.x"}, {"kv.put", "cfg/db"}, {"kv.deleted", "cfg/app.y"},
	}
	for _, w := range f.Watches {
		sum := w.Summary()
		sel, err := watch.SummarySelector(sum)
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		for _, e := range events {
			if got, want := sel.Match(e.typ, e.key), w.Source.Match(e.typ, e.key); got != want {
				t.Errorf("%s (summary %+v): Match(%s, %s) = %v, the watch's own %v", w.Name, sum, e.typ, e.key, got, want)
			}
		}
	}
	if s := f.Watches[0].Summary(); s.Key != "/app/**" {
		t.Errorf("summary key %q, want /app/**", s.Key)
	}
	if s := f.Watches[1].Summary(); len(s.Types) != 1 || s.Types[0] != "zk.deleted" {
		t.Errorf("summary types %v, want [zk.deleted]", s.Types)
	}
}
