package hookfile_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/hookfile"
)

// TestParse_Confirm proves a confirm: pre hook parses and renders its
// question from the call, and that a misplaced or broken one is reported
// with file, line and field.
func TestParse_Confirm(t *testing.T) {
	f, err := hookfile.Parse("h.yaml", []byte(`
hooks:
  - name: kill-confirmer
    phase: pre
    methods: [kill_job]
    confirm: 'Kill {{.job}} ({{with index .args "shards"}}shards {{.}}{{else}}all shards{{end}}) in {{.env}}?'
`))
	if err != nil {
		t.Fatal(err)
	}
	h := f.Hooks[0]
	c := call.Call{Method: "kill_job", Job: "bb/cbe/prod/eightball", Args: map[string]string{"shards": "0-3"}}
	if q, err := h.Question(c); err != nil || q != "Kill bb/cbe/prod/eightball (shards 0-3) in prod?" {
		t.Fatalf("question %q, %v", q, err)
	}
	c.Args = nil
	if q, err := h.Question(c); err != nil || q != "Kill bb/cbe/prod/eightball (all shards) in prod?" {
		t.Fatalf("question without shards %q, %v", q, err)
	}

	for _, tc := range []struct{ name, hook, want string }{
		{"post hook", "phase: post\n    methods: [\"*\"]\n    confirm: 'sure?'", "h.yaml:6: hooks[0].confirm: only a pre hook asks the caller to confirm"},
		{"with exec", "phase: pre\n    methods: [\"*\"]\n    exec: 'true'\n    confirm: 'sure?'", "h.yaml:7: hooks[0].confirm: confirm, exec and http are exclusive"},
		{"on agents", "phase: pre\n    methods: [\"*\"]\n    run: {agents: [web-1]}\n    confirm: 'sure?'", "h.yaml:7: hooks[0].confirm: the caller answers a confirm: hook; it takes no run: agents"},
		{"bad template", "phase: pre\n    methods: [\"*\"]\n    confirm: 'Kill {{.job'", "h.yaml:6: hooks[0].confirm: template: a:1: unclosed action"},
		{"unknown key", "phase: pre\n    methods: [\"*\"]\n    confirm: 'Kill {{.jbo}}?'", "h.yaml:6: hooks[0].confirm: {{.jbo}}: no such key"},
		{"empty", "phase: pre\n    methods: [\"*\"]\n    confirm: ' '", "h.yaml:6: hooks[0].confirm: the question is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hookfile.Parse("h.yaml", []byte("\nhooks:\n  - name: a\n    "+tc.hook+"\n"))
			if err == nil || !errors.Is(err, hookfile.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error\n%v\nwant %q", err, tc.want)
			}
		})
	}
}
