package hookfile

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/heraldhq/herald/events/call"
)

// A confirm: pre hook runs nothing: the dispatcher renders its question
// from the call and hands it back in the verdict (call.Verdict.Confirm);
// the caller asks it on its own terminal, and only a yes lets the call run.

// parseConfirm compiles a confirm: template; missing keys are errors.
func parseConfirm(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Parse(text)
}

// confirmData is what a confirm: template sees: .method, .job,
// .cluster, .role, .env, .name, .args (a map: .args.shards), .user, .host
// and .caller.
func confirmData(c call.Call) map[string]any {
	j, _ := call.ParseJob(c.Job)
	args := map[string]any{}
	for k, v := range c.Args {
		args[k] = v
	}
	return map[string]any{
		"method": c.Method, "job": c.Job, "cluster": j.Cluster, "role": j.Role, "env": j.Env, "name": j.Name,
		"args": args, "user": c.User, "host": c.Host, "caller": c.Caller,
	}
}

// Question renders a confirm: hook's question for c. A key the call does
// not have ({{.args.shards}} without a shards argument) is an error that
// names it; {{index .args "shards"}} is empty instead.
func (h *Hook) Question(c call.Call) (string, error) {
	t := h.confirm
	if t == nil {
		var err error
		if t, err = parseConfirm(h.Name, h.Confirm); err != nil {
			return "", fmt.Errorf("confirm: %w", err)
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, confirmData(c)); err != nil {
		return "", fmt.Errorf("confirm: %w", err)
	}
	return b.String(), nil
}

// validateConfirm checks a confirm: hook: a pre hook run centrally, with
// no exec, http or env, whose question is a template over the call.
func (h *Hook) validateConfirm(bad func(field, format string, a ...any)) {
	switch {
	case h.Phase != call.PhasePre:
		bad("confirm", "only a pre hook asks the caller to confirm")
	case !h.Run.Central():
		bad("confirm", "the caller answers a confirm: hook; it takes no run: agents")
	case !h.Exec.IsZero() || h.HTTP != "":
		bad("confirm", "confirm, exec and http are exclusive")
	case len(h.Env) > 0:
		bad("env", "applies to exec only")
	case strings.TrimSpace(h.Confirm) == "":
		bad("confirm", "the question is empty")
	}
	t, err := parseConfirm(h.Name, h.Confirm)
	if err != nil {
		bad("confirm", "%v", err)
		return
	}
	// A key that no call has is a typo: {{.jb}}.
	for _, f := range fields(t.Tree.Root) {
		if _, ok := confirmData(call.Call{})[f]; !ok {
			bad("confirm", "{{.%s}}: no such key (want .method, .job, .cluster, .role, .env, .name, .args.NAME, .user, .host or .caller)", f)
			return
		}
	}
	h.confirm = t
}

// fields returns the first name of every field chain on dot in a template
// ({{.args.shards}}: args).
func fields(n parse.Node) []string {
	var out []string
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			out = append(out, n.Ident[0])
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode: // dot moves in the body
			walk(n.Pipe)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	walk(n)
	return out
}
