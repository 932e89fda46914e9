package schemas_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/hookfile"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/source/kv"
	"github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/schemas"
	"gopkg.in/yaml.v3"
)

// ---- helpers ---------------------------------------------------------------

// schemaAt returns the schema object at pointer ("" for the root,
// "/$defs/watch" for a definition) of the named schema.
func schemaAt(t *testing.T, name, pointer string) map[string]any {
	t.Helper()
	b, err := schemas.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("schema %s is not JSON: %v", name, err)
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if tok == "" {
			continue
		}
		m, ok := doc.(map[string]any)
		if !ok {
			t.Fatalf("schema %s: %s: not an object at %q", name, pointer, tok)
		}
		if doc, ok = m[tok]; !ok {
			t.Fatalf("schema %s: %s: no %q", name, pointer, tok)
		}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("schema %s: %s is not an object", name, pointer)
	}
	return m
}

// propertyNames returns the sorted keys of a schema object's properties.
func propertyNames(t *testing.T, obj map[string]any) []string {
	t.Helper()
	props, ok := obj["properties"].(map[string]any)
	if !ok {
		t.Fatal("schema object has no properties")
	}
	return slices.Sorted(maps.Keys(props))
}

// requiredNames returns the sorted required list of a schema object.
func requiredNames(obj map[string]any) []string {
	var out []string
	list, _ := obj["required"].([]any)
	for _, v := range list {
		out = append(out, v.(string))
	}
	slices.Sort(out)
	return out
}

// enumOf returns the enum of a property, or of its items for a list.
func enumOf(t *testing.T, obj map[string]any, prop string) []string {
	t.Helper()
	p, ok := obj["properties"].(map[string]any)[prop].(map[string]any)
	if !ok {
		t.Fatalf("no property %q", prop)
	}
	enum, ok := p["enum"].([]any)
	if items, isList := p["items"].(map[string]any); !ok && isList {
		enum, ok = items["enum"].([]any) // a list of enumerated values
	}
	if !ok {
		t.Fatalf("property %q has no enum", prop)
	}
	var out []string
	for _, v := range enum {
		out = append(out, v.(string))
	}
	return out
}

// goFields returns the tag names of typ's exported, serialised fields under
// tagKey ("json" or "yaml"), and which of them are always emitted (no
// omitempty or omitzero option); an inline embedded struct's fields count
// as typ's own.
func goFields(typ reflect.Type, tagKey string) (names, alwaysEmitted []string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get(tagKey)
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && slices.Contains(strings.Split(opts, ","), "inline") {
			n, a := goFields(f.Type, tagKey) // e.g. zk.Config's connection settings
			names, alwaysEmitted = append(names, n...), append(alwaysEmitted, a...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		optional := false
		for _, o := range strings.Split(opts, ",") {
			if o == "omitempty" || o == "omitzero" {
				optional = true
			}
		}
		if !optional {
			alwaysEmitted = append(alwaysEmitted, name)
		}
	}
	slices.Sort(names)
	slices.Sort(alwaysEmitted)
	return names, alwaysEmitted
}

// toJSONValue decodes YAML into the JSON-compatible value the schema sees.
func toJSONValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("yaml document has no JSON form: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// toMap turns a Go value into its JSON object form.
func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustValid(t *testing.T, name string, doc any) {
	t.Helper()
	if err := schemas.Validate(name, doc); err != nil {
		t.Fatalf("schema %s rejects a valid document: %v", name, err)
	}
}

func mustInvalid(t *testing.T, name string, doc any) {
	t.Helper()
	err := schemas.Validate(name, doc)
	if err == nil {
		b, _ := json.Marshal(doc)
		t.Fatalf("schema %s accepts an invalid document: %s", name, b)
	}
	if !errors.Is(err, schemas.ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
}

// ---- package API -----------------------------------------------------------

func TestNames(t *testing.T) {
	got := schemas.Names()
	for _, want := range []string{schemas.Agent, schemas.Announcement, schemas.Dispatcher, schemas.Event, schemas.Hooks, schemas.Jobs, schemas.Outcome, schemas.Watches} {
		if !slices.Contains(got, want) {
			t.Errorf("Names() = %v, missing %q", got, want)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("Names() = %v, not sorted", got)
	}
}

func TestGet(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			root := schemaAt(t, name, "")
			if got, want := root["$schema"], "https://json-schema.org/draft/2020-12/schema"; got != want {
				t.Errorf("$schema = %v, want %s", got, want)
			}
			if got, want := root["$id"], schemas.BaseID+name+".schema.json"; got != want {
				t.Errorf("$id = %v, want %s", got, want)
			}
			if d, _ := root["description"].(string); d == "" {
				t.Error("schema has no description")
			}
			a, _ := schemas.Get(name)
			b, err := schemas.Get(name + ".schema.json")
			if err != nil || string(a) != string(b) {
				t.Errorf("Get with the file name: %v, or different bytes", err)
			}
			if err := schemas.Validate(name, []byte(`"not an object"`)); !errors.Is(err, schemas.ErrInvalid) {
				t.Errorf("Validate(a string) = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		for _, name := range []string{"nope", "", "../schemas", "event.schema.json/x"} {
			if _, err := schemas.Get(name); !errors.Is(err, schemas.ErrUnknownSchema) {
				t.Errorf("Get(%q) = %v, want ErrUnknownSchema", name, err)
			}
			if err := schemas.Validate(name, map[string]any{}); !errors.Is(err, schemas.ErrUnknownSchema) {
				t.Errorf("Validate(%q) = %v, want ErrUnknownSchema", name, err)
			}
		}
	})
}

func TestValidate_Inputs(t *testing.T) {
	doc := `{"watches":[{"name":"a","on":"event:x","exec":"true"}]}`
	mustValid(t, schemas.Watches, []byte(doc))
	mustValid(t, schemas.Watches, json.RawMessage(doc))
	mustValid(t, schemas.Watches, map[string]any{"watches": []any{map[string]any{"name": "a", "on": "event:x", "exec": "true"}}})
	if err := schemas.Validate(schemas.Watches, []byte(`{"watches":`)); err == nil || errors.Is(err, schemas.ErrInvalid) {
		t.Errorf("Validate(broken JSON) = %v, want a decode error that is not ErrInvalid", err)
	}
	if err := schemas.Validate(schemas.Watches, map[string]any{"f": func() {}}); err == nil {
		t.Error("Validate(unencodable value) = nil")
	}
}

// ---- 1. the Go types and the schemas name the same fields ------------------

// The required rule. For the types Herald writes (events.Event, Outcome,
// Announcement, WatchSummary) a member is required exactly when its Go field
// is always emitted: its json tag has neither omitempty nor omitzero. The
// event adds specversion, which ToMsg always emits but Event does not hold.
// For the watch file, which people write, no yaml tag says anything, so the
// required list is given here (the fields validate() reports as "required");
// TestWatchesSchema_AgreesWithParse proves it by removing every field of
// every sample watch and checking that watch.Parse and the schema agree.
// The daemon config files require nothing: every key has a default.
type agreement struct {
	schema, pointer string
	typ             reflect.Type
	tag             string
	// schemaOnly are properties with no Go field.
	schemaOnly []string
	// extraRequired are required properties with no Go field.
	extraRequired []string
	// required, when set, replaces the always-emitted rule.
	required []string
}

var agreements = []agreement{
	{
		schema: schemas.Event, typ: reflect.TypeFor[events.Event](), tag: "json",
		schemaOnly:    []string{"specversion", "data", "data_base64"},
		extraRequired: []string{"specversion"},
	},
	{schema: schemas.Outcome, typ: reflect.TypeFor[events.Outcome](), tag: "json"},
	{schema: schemas.Announcement, typ: reflect.TypeFor[events.Announcement](), tag: "json"},
	{schema: schemas.Announcement, pointer: "/$defs/watchSummary", typ: reflect.TypeFor[events.WatchSummary](), tag: "json"},
	{
		schema: schemas.Watches, pointer: "/$defs/watch", typ: reflect.TypeFor[watch.Watch](), tag: "yaml",
		required: []string{"on"}, // and exactly one of exec and hooksdir (allOf/oneOf); name defaults to the file's
	},
	{
		schema: schemas.Watches, pointer: "/$defs/retry", typ: reflect.TypeFor[watch.Retry](), tag: "yaml",
		required: []string{"attempts"},
	},
	{schema: schemas.Dispatcher, typ: reflect.TypeFor[dispatcher.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Dispatcher, pointer: "/$defs/nats", typ: reflect.TypeFor[natsconn.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Dispatcher, pointer: "/$defs/streams", typ: reflect.TypeFor[bus.StreamConfig](), tag: "yaml", required: []string{}},
	{schema: schemas.Dispatcher, pointer: "/$defs/zk", typ: reflect.TypeFor[zk.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Dispatcher, pointer: "/$defs/kv", typ: reflect.TypeFor[kv.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Agent, typ: reflect.TypeFor[agent.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Agent, pointer: "/$defs/nats", typ: reflect.TypeFor[natsconn.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Agent, pointer: "/$defs/otlp", typ: reflect.TypeFor[tracing.Config](), tag: "yaml", required: []string{}},
	{schema: schemas.Dispatcher, pointer: "/$defs/otlp", typ: reflect.TypeFor[tracing.Config](), tag: "yaml", required: []string{}},
	{
		schema: schemas.Hooks, pointer: "/$defs/hook", typ: reflect.TypeFor[hookfile.Hook](), tag: "yaml",
		required: []string{"name", "phase", "methods"}, // and exactly one of exec and http (allOf/oneOf)
	},
	{
		schema: schemas.Hooks, pointer: "/$defs/handler", typ: reflect.TypeFor[handlers.Handler](), tag: "yaml",
		required: []string{"name"}, // and exactly one of exec and http (allOf/oneOf)
	},
	{schema: schemas.Hooks, pointer: "/$defs/match", typ: reflect.TypeFor[handlers.Match](), tag: "yaml", required: []string{}},
	{schema: schemas.EventReport, typ: reflect.TypeFor[eventreport.Summary](), tag: "json"},
	{schema: schemas.EventReport, pointer: "/$defs/host", typ: reflect.TypeFor[eventreport.Host](), tag: "json"},
	{schema: schemas.EventReport, pointer: "/$defs/rollout", typ: reflect.TypeFor[eventreport.Rollout](), tag: "json"},
	{schema: schemas.EventReport, pointer: "/$defs/halt", typ: reflect.TypeFor[eventreport.Halt](), tag: "json"},
	{schema: schemas.Jobs, typ: reflect.TypeFor[hookfile.JobFile](), tag: "yaml", required: []string{}},
	{schema: schemas.Jobs, pointer: "/$defs/stage", typ: reflect.TypeFor[hookfile.Stage](), tag: "yaml", required: []string{}},
	// The dispatcher fills in a call's id.
	{schema: schemas.Call, pointer: "/$defs/call", typ: reflect.TypeFor[call.Call](), tag: "json", required: []string{"method", "job", "phase"}},
	{schema: schemas.Call, pointer: "/$defs/result", typ: reflect.TypeFor[call.Result](), tag: "json"},
	{schema: schemas.Call, pointer: "/$defs/confirmation", typ: reflect.TypeFor[call.Confirmation](), tag: "json"},
	{schema: schemas.Call, pointer: "/$defs/hookVerdict", typ: reflect.TypeFor[call.HookVerdict](), tag: "json"},
	{schema: schemas.Call, pointer: "/$defs/verdict", typ: reflect.TypeFor[call.Verdict](), tag: "json"},
	{schema: schemas.Call, pointer: "/$defs/confirmRecord", typ: reflect.TypeFor[call.ConfirmRecord](), tag: "json"},
	{schema: schemas.Call, pointer: "/$defs/hooksReport", typ: reflect.TypeFor[call.HooksReport](), tag: "json"},
}

func TestSchemas_MatchGoTypes(t *testing.T) {
	for _, a := range agreements {
		t.Run(a.schema+a.pointer, func(t *testing.T) {
			obj := schemaAt(t, a.schema, a.pointer)
			fields, emitted := goFields(a.typ, a.tag)
			want := slices.Sorted(slices.Values(append(slices.Clone(fields), a.schemaOnly...)))
			got := propertyNames(t, obj)
			if !slices.Equal(got, want) {
				t.Errorf("%s properties = %v\n%s fields (+ %v) = %v\nin schema only: %v\nin Go only: %v",
					a.schema+a.pointer, got, a.typ, a.schemaOnly, want, minus(got, want), minus(want, got))
			}
			wantReq := a.required
			if wantReq == nil {
				wantReq = append(slices.Clone(emitted), a.extraRequired...)
			}
			slices.Sort(wantReq)
			if gotReq := requiredNames(obj); !slices.Equal(gotReq, wantReq) {
				t.Errorf("%s required = %v, want %v", a.schema+a.pointer, gotReq, wantReq)
			}
			if obj["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties is not false", a.schema+a.pointer)
			}
			for name, p := range obj["properties"].(map[string]any) {
				if d, _ := p.(map[string]any)["description"].(string); d == "" && name != "exec" && name != "retry" {
					t.Errorf("%s: property %s has no description", a.schema+a.pointer, name)
				}
			}
		})
	}
	t.Run("every schema has a row", func(t *testing.T) {
		for _, name := range schemas.Names() {
			if !slices.ContainsFunc(agreements, func(a agreement) bool { return a.schema == name }) {
				t.Errorf("schema %q has no row in agreements: add one per Go struct it describes", name)
			}
		}
	})
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func TestSchemas_EnumsMatchGo(t *testing.T) {
	var statuses []string
	for _, s := range events.Statuses {
		statuses = append(statuses, string(s))
	}
	modes := []string{watch.ModeQueue, watch.ModeDiscard, watch.ModeParallel}
	for _, c := range []struct {
		schema, pointer, prop string
		want                  []string
	}{
		{schemas.Outcome, "", "status", statuses},
		{schemas.EventReport, "/$defs/host", "status", append(slices.Clone(statuses), eventreport.StatusPending, eventreport.StatusWaiting, eventreport.StatusRunning)},
		{schemas.Announcement, "/$defs/watchSummary", "run_mode", modes},
		{schemas.Watches, "/$defs/watch", "run_mode", modes},
		{schemas.Watches, "/$defs/watch", "on_failure", []string{watch.FailureKeep, watch.FailureStop}},
		{schemas.Hooks, "/$defs/hook", "phase", []string{call.PhasePre, call.PhasePost, call.PhaseErr, call.PhaseGeneric}},
		{schemas.Hooks, "/$defs/hook", "on_timeout", []string{hookfile.OnTimeoutDeny, hookfile.OnTimeoutAllow}},
		{schemas.Hooks, "/$defs/hook", "scope", []string{hookfile.ScopeGlobal, hookfile.ScopeJob}},
		{schemas.Hooks, "/$defs/handler", "when", []string{handlers.WhenEach, handlers.WhenAllReported}},
		{schemas.Hooks, "/$defs/match", "status", statuses},
	} {
		t.Run(c.schema+c.pointer+"/"+c.prop, func(t *testing.T) {
			if got := enumOf(t, schemaAt(t, c.schema, c.pointer), c.prop); !slices.Equal(got, c.want) {
				t.Errorf("enum = %v, want %v (same order)", got, c.want)
			}
		})
	}
}

// ---- 2. realistic values validate; broken ones do not -----------------------

func intp(i int) *int { return &i }

func sampleOutcomes() map[string]events.Outcome {
	start := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	base := events.Outcome{
		EventID: "3f1c2a8e-4b7d-4c1e-9a2b-5d6e7f809a1b", EventType: "git.push", Key: "infra/deploy",
		Watch: "git-pull", Host: "web-1", Attempts: 1, Start: start, DurationMS: 1234.5,
	}
	with := func(f func(o *events.Outcome)) events.Outcome { o := base; f(&o); return o }
	return map[string]events.Outcome{
		"ok": with(func(o *events.Outcome) {
			o.Status, o.ExitCode, o.Version, o.Stdout = events.StatusOK, intp(0), "42", "Already up to date.\n"
		}),
		"ok with superseded": with(func(o *events.Outcome) {
			o.Status, o.ExitCode = events.StatusOK, intp(0)
			o.Superseded, o.SupersededCount = []string{"9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b"}, 1002
		}),
		"failed exit": with(func(o *events.Outcome) {
			o.Status, o.ExitCode, o.Attempts, o.Stderr = events.StatusFailed, intp(128), 3, "fatal: not a git repository\n"
		}),
		"failed signal": with(func(o *events.Outcome) { o.Status, o.Signal = events.StatusFailed, "SIGKILL" }),
		"timeout": with(func(o *events.Outcome) {
			o.Status, o.Signal, o.DurationMS = events.StatusTimeout, "SIGTERM", 300000
		}),
		"discarded": with(func(o *events.Outcome) {
			o.Status, o.Attempts, o.Start, o.DurationMS = events.StatusDiscarded, 0, time.Time{}, 0
		}),
		"superseded": with(func(o *events.Outcome) {
			o.Status, o.Attempts, o.Start, o.DurationMS = events.StatusSuperseded, 0, time.Time{}, 0
			o.SupersededBy = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
		}),
		"error": with(func(o *events.Outcome) {
			o.Status, o.Attempts, o.Error = events.StatusError, 0, `exec: "/usr/local/bin/git-pull-deploy": permission denied`
		}),
		"halted": with(func(o *events.Outcome) {
			o.Status, o.Attempts, o.Start, o.DurationMS = events.StatusHalted, 0, time.Time{}, 0
			o.Error = "rollout halted: 3 failed runs (halt_after_failures 3)"
		}),
	}
}

func TestOutcomeSchema_RoundTrip(t *testing.T) {
	samples := sampleOutcomes()
	covered := map[events.Status]bool{}
	for name, o := range samples {
		t.Run(name, func(t *testing.T) {
			covered[o.Status] = true
			mustValid(t, schemas.Outcome, o)
			b, err := o.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			mustValid(t, schemas.Outcome, b)
		})
	}
	for _, s := range events.Statuses {
		if !covered[s] {
			t.Errorf("no sample outcome with status %q", s)
		}
	}

	full := toMap(t, samples["ok"])
	full["signal"], full["stderr"], full["error"], full["superseded_by"] = "SIGTERM", "e", "x", "y"
	full["superseded"], full["superseded_count"] = []any{"a", "b"}, 2
	mustValid(t, schemas.Outcome, full)
	t.Run("each member removed", func(t *testing.T) {
		req := requiredNames(schemaAt(t, schemas.Outcome, ""))
		for k := range full {
			doc := maps.Clone(full)
			delete(doc, k)
			if k == "traceparent" {
				delete(doc, "tracestate") // only with traceparent
			}
			if slices.Contains(req, k) {
				mustInvalid(t, schemas.Outcome, doc)
			} else {
				mustValid(t, schemas.Outcome, doc)
			}
		}
	})
	for name, mutate := range map[string]func(m map[string]any){
		"wrong status":     func(m map[string]any) { m["status"] = "succeeded" },
		"extra member":     func(m map[string]any) { m["exitcode"] = 0 },
		"exit code string": func(m map[string]any) { m["exit_code"] = "0" },
		"exit code float":  func(m map[string]any) { m["exit_code"] = 1.5 },
		"negative attempt": func(m map[string]any) { m["attempts"] = -1 },
		"start not a time": func(m map[string]any) { m["start"] = "yesterday" },
		"bad event type":   func(m map[string]any) { m["event_type"] = "Git.Push" },
		"empty key":        func(m map[string]any) { m["key"] = "" },
		"null status":      func(m map[string]any) { m["status"] = nil },
	} {
		t.Run(name, func(t *testing.T) {
			doc := maps.Clone(full)
			mutate(doc)
			mustInvalid(t, schemas.Outcome, doc)
		})
	}
}

func TestAnnouncementSchema_RoundTrip(t *testing.T) {
	f, err := watch.ParseFile(filepath.Join("..", "deploy", "examples", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var summaries []events.WatchSummary
	for _, w := range f.Watches {
		summaries = append(summaries, w.Summary())
	}
	start := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	a := events.Announcement{
		Name: "web-1", Version: "v0.3.0", Started: start, Heartbeat: start.Add(30 * time.Second),
		Interval: 30, Watches: summaries,
	}
	mustValid(t, schemas.Announcement, a)
	t.Run("no watches", func(t *testing.T) {
		b := a
		b.Watches = nil // encodes as null
		mustValid(t, schemas.Announcement, b)
		b.Watches = []events.WatchSummary{}
		mustValid(t, schemas.Announcement, b)
	})
	t.Run("stopping", func(t *testing.T) {
		b := a
		b.Stopping = true
		mustValid(t, schemas.Announcement, b)
	})
	t.Run("each member removed", func(t *testing.T) {
		b := a
		b.Stopping = true
		full := toMap(t, b)
		req := requiredNames(schemaAt(t, schemas.Announcement, ""))
		for k := range full {
			doc := maps.Clone(full)
			delete(doc, k)
			if k == "traceparent" {
				delete(doc, "tracestate") // only with traceparent
			}
			if slices.Contains(req, k) {
				mustInvalid(t, schemas.Announcement, doc)
			} else {
				mustValid(t, schemas.Announcement, doc)
			}
		}
	})
	for name, mutate := range map[string]func(m map[string]any, w map[string]any){
		"bad run mode":         func(_, w map[string]any) { w["run_mode"] = "serial" },
		"summary extra member": func(_, w map[string]any) { w["selector"] = "**" },
		"summary types string": func(_, w map[string]any) { w["types"] = "zk.created" },
		"summary missing on":   func(_, w map[string]any) { delete(w, "on") },
		"extra member":         func(m, _ map[string]any) { m["pid"] = 1 },
		"heartbeat not a time": func(m, _ map[string]any) { m["heartbeat"] = "now" },
		"interval string":      func(m, _ map[string]any) { m["heartbeat_interval_s"] = "30s" },
		"watches object":       func(m, _ map[string]any) { m["watches"] = map[string]any{} },
	} {
		t.Run(name, func(t *testing.T) {
			doc := toMap(t, a)
			mutate(doc, doc["watches"].([]any)[0].(map[string]any))
			mustInvalid(t, schemas.Announcement, doc)
		})
	}
}

// ---- 3. events: binary mode on NATS, structured form in the schema ----------

// structured converts a binary-mode NATS message into the CloudEvents
// structured JSON form: each ce-<attr> header becomes member <attr>
// (percent-decoded, as the NATS binding encodes them), the payload becomes
// data when it is JSON and data_base64 otherwise.
func structured(t *testing.T, h map[string][]string, data []byte) map[string]any {
	t.Helper()
	doc := map[string]any{}
	ct := ""
	for k, vs := range h {
		attr, ok := strings.CutPrefix(strings.ToLower(k), "ce-")
		if !ok || len(vs) == 0 {
			continue
		}
		v, err := url.PathUnescape(vs[0])
		if err != nil {
			t.Fatalf("header %s: %v", k, err)
		}
		doc[attr] = v
		if attr == "datacontenttype" {
			ct = v
		}
	}
	switch {
	case len(data) == 0:
	case (ct == "application/json" || strings.HasSuffix(ct, "+json")) && json.Valid(data):
		doc["data"] = json.RawMessage(data)
	default:
		doc["data_base64"] = base64.StdEncoding.EncodeToString(data)
	}
	return doc
}

func TestEventSchema_FromToMsg(t *testing.T) {
	jsonEvent := events.New("herald-git/ci-1", "git.push", "infra/deploy", []byte(`{"ref":"refs/heads/main","after":"abc123"}`))
	jsonEvent.DataContentType = "application/json"
	jsonEvent.Version = "17"
	jsonEvent.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	jsonEvent.TraceState = "vendor=opaque"
	odd := events.New("herald-zk/zk-1", "zk.changed", "/app/caf\u00e9/100%/line\nbreak", []byte{0, 1, 2, 0xff})
	odd.Version = "0x1a2b\u00e9"
	cases := map[string]events.Event{
		"json data with version": jsonEvent,
		"binary data, escaped":   odd,
		"no data":                events.New("herald-kv/kv-1", "kv.deleted", "config/app.yaml", nil),
		"cloudevent json type":   func() events.Event { e := jsonEvent; e.DataContentType = "application/cloudevents+json"; return e }(),
	}
	props := propertyNames(t, schemaAt(t, schemas.Event, ""))
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			m := e.ToMsg()
			doc := structured(t, m.Header, m.Data)
			mustValid(t, schemas.Event, doc)

			back, err := events.FromMsg(m)
			if err != nil {
				t.Fatalf("FromMsg: %v", err)
			}
			if doc["subject"] != back.Key || doc["subject"] != e.Key {
				t.Errorf("subject = %q, key = %q, FromMsg key = %q", doc["subject"], e.Key, back.Key)
			}
			if e.Version != "" && doc["heraldversion"] != e.Version {
				t.Errorf("heraldversion = %q, want %q", doc["heraldversion"], e.Version)
			}
			for k := range m.Header {
				if attr, ok := strings.CutPrefix(strings.ToLower(k), "ce-"); ok && !slices.Contains(props, attr) {
					t.Errorf("ToMsg emits header %s, but the schema has no property %q", k, attr)
				}
			}
		})
	}
	t.Run("every attribute travels in a header", func(t *testing.T) {
		m := jsonEvent.ToMsg()
		for _, p := range props {
			if p == "data" || p == "data_base64" {
				continue
			}
			if m.Header.Get("ce-"+p) == "" {
				t.Errorf("schema property %q has no ce-%s header from ToMsg", p, p)
			}
		}
	})

	base := func() map[string]any { m := jsonEvent.ToMsg(); return structured(t, m.Header, m.Data) }
	t.Run("each attribute removed", func(t *testing.T) {
		req := requiredNames(schemaAt(t, schemas.Event, ""))
		full := base()
		for k := range full {
			doc := maps.Clone(full)
			delete(doc, k)
			if k == "traceparent" {
				delete(doc, "tracestate") // only with traceparent
			}
			if slices.Contains(req, k) {
				mustInvalid(t, schemas.Event, doc)
			} else {
				mustValid(t, schemas.Event, doc)
			}
		}
	})
	for name, mutate := range map[string]func(m map[string]any){
		"old specversion":     func(m map[string]any) { m["specversion"] = "0.3" },
		"id not a uuid":       func(m map[string]any) { m["id"] = "event-1" },
		"bad type":            func(m map[string]any) { m["type"] = "Git.Push" },
		"empty subject":       func(m map[string]any) { m["subject"] = "" },
		"time not RFC 3339":   func(m map[string]any) { m["time"] = "Tue, 04 Mar 2025 05:06:07 GMT" },
		"data and base64":     func(m map[string]any) { m["data_base64"] = "AA==" },
		"unknown extension":   func(m map[string]any) { m["dataref"] = "https://example.com/x" },
		"bad traceparent":     func(m map[string]any) { m["traceparent"] = "00-abc-def-01" },
		"zero trace id":       func(m map[string]any) { m["traceparent"] = "00-00000000000000000000000000000000-00f067aa0ba902b7-01" },
		"upper-case hex":      func(m map[string]any) { m["traceparent"] = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01" },
		"state alone":         func(m map[string]any) { delete(m, "traceparent") },
		"state with newline":  func(m map[string]any) { m["tracestate"] = "a=1\nb=2" },
		"empty heraldversion": func(m map[string]any) { m["heraldversion"] = "" },
	} {
		t.Run(name, func(t *testing.T) {
			doc := base()
			mutate(doc)
			mustInvalid(t, schemas.Event, doc)
		})
	}
}

// The schema's type pattern and events.ValidateType accept the same types.
func TestEventSchema_TypePatternMatchesValidateType(t *testing.T) {
	m := events.New("s", "a.b", "k", nil).ToMsg()
	for _, typ := range []string{
		"git.push", "zk.changed", "kv.put", "a", "0", "a-b_c.d9", "build.done.v2",
		"", "Git.push", ".a", "a.", "a..b", "-a", "a.-b", "a b", "a.b*", "a>", "é",
	} {
		t.Run(fmt.Sprintf("%q", typ), func(t *testing.T) {
			doc := structured(t, m.Header, m.Data)
			doc["type"] = typ
			goOK := events.ValidateType(typ) == nil
			schemaErr := schemas.Validate(schemas.Event, doc)
			if goOK != (schemaErr == nil) {
				t.Errorf("ValidateType ok = %v, schema: %v", goOK, schemaErr)
			}
		})
	}
}

// ---- 4. watch files ---------------------------------------------------------

// isWatchFile reports whether a YAML document is a watch file: a mapping
// whose top-level watches key holds a list. deploy/examples also holds the
// daemon configs, and the agent's has a watches key too (a directory).
func isWatchFile(t *testing.T, data []byte) bool {
	t.Helper()
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return false
	}
	_, ok := top["watches"].([]any)
	return ok
}

// exampleFiles returns the YAML files of deploy/examples and its
// subdirectories (call-hooks, call-hooks/jobs).
func exampleFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join("..", "deploy", "examples"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWatchesSchema_ValidFiles(t *testing.T) {
	var paths []string
	for _, p := range exampleFiles(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if isWatchFile(t, data) {
			paths = append(paths, p)
		}
	}
	if !slices.Contains(paths, filepath.Join("..", "deploy", "examples", "watches.yaml")) {
		t.Fatalf("deploy/examples/watches.yaml is missing or not a watch file (found %v)", paths)
	}
	valid, err := filepath.Glob(filepath.Join("testdata", "valid", "*.yaml"))
	if err != nil || len(valid) < 3 {
		t.Fatalf("testdata/valid: %v, %v", valid, err)
	}
	for _, p := range append(paths, valid...) {
		t.Run(p, func(t *testing.T) {
			if _, err := watch.ParseFile(p); err != nil {
				t.Fatalf("watch.ParseFile: %v", err)
			}
			data, _ := os.ReadFile(p)
			mustValid(t, schemas.Watches, toJSONValue(t, data))
		})
	}
}

func TestWatchesSchema_InvalidFiles(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"unknown_field", "bad_run_mode", "missing_exec", "bad_duration"} {
		if !slices.Contains(paths, filepath.Join("testdata", "invalid", must+".yaml")) {
			t.Errorf("testdata/invalid/%s.yaml is missing", must)
		}
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if _, err := watch.ParseFile(p); !errors.Is(err, watch.ErrInvalid) {
				t.Errorf("watch.ParseFile = %v, want ErrInvalid", err)
			}
			data, _ := os.ReadFile(p)
			mustInvalid(t, schemas.Watches, toJSONValue(t, data))
		})
	}
}

// The sample watch file parses, covers the three run modes and shows every
// field a watch has.
func TestWatchesExample_ShowsEveryField(t *testing.T) {
	p := filepath.Join("..", "deploy", "examples", "watches.yaml")
	f, err := watch.ParseFile(p)
	if err != nil {
		t.Fatalf("watch.ParseFile: %v", err)
	}
	modes := map[string]bool{}
	for _, w := range f.Watches {
		modes[w.RunMode] = true
	}
	if len(modes) != 3 {
		t.Errorf("run modes shown: %v, want queue, discard and parallel", modes)
	}
	data, _ := os.ReadFile(p)
	shown := map[string]bool{}
	for _, w := range toJSONValue(t, data).(map[string]any)["watches"].([]any) {
		for k := range w.(map[string]any) {
			shown[k] = true
		}
	}
	fields, _ := goFields(reflect.TypeFor[watch.Watch](), "yaml")
	for _, k := range fields {
		if !shown[k] {
			t.Errorf("deploy/examples/watches.yaml shows no %q", k)
		}
	}
}

// checkAgree writes a one-watch file and asserts that watch.Parse and the
// schema both accept it or both reject it.
func checkAgree(t *testing.T, w map[string]any) {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{"watches": []any{w}})
	if err != nil {
		t.Fatal(err)
	}
	_, perr := watch.Parse("w.yaml", data)
	serr := schemas.Validate(schemas.Watches, toJSONValue(t, data))
	if (perr == nil) != (serr == nil) {
		t.Errorf("watch.Parse and the schema disagree on\n%s\nParse: %v\nschema: %v", data, perr, serr)
	}
}

func sampleWatches(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "deploy", "examples", "watches.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, w := range toJSONValue(t, data).(map[string]any)["watches"].([]any) {
		out = append(out, w.(map[string]any))
	}
	return out
}

func TestWatchesSchema_AgreesWithParse(t *testing.T) {
	samples := sampleWatches(t)
	// Removing any one field of any sample watch: both accept or both
	// reject. This is what proves the schema's required list.
	t.Run("each field removed", func(t *testing.T) {
		for _, w := range samples {
			for k := range w {
				t.Run(fmt.Sprint(w["name"], "/", k), func(t *testing.T) {
					c := maps.Clone(w)
					delete(c, k)
					checkAgree(t, c)
				})
			}
		}
	})

	queue, discard, parallel, hooks := samples[0], samples[1], samples[2], samples[3]
	if hooks["hooksdir"] == nil || hooks["exec"] != nil {
		t.Fatalf("the fourth sample watch must use hooksdir, not exec: %v", hooks)
	}
	values := []struct {
		base  map[string]any
		field string
		vals  []any
	}{
		{queue, "name", []any{"x", "a b", "a\nb", ""}},
		{queue, "on", []any{
			"event:git.push", "event:a-b_c.d9", "zk:/", "zk:/**", "zk:/a", "zk:/a/b/**", "kv:b/k", "kv:b/p.>", "kv:B-1/a/b=c.d",
			"git.push", "event:", "event:Git.Push", "event:a..b", "ftp:/x", "zk:a", "zk:/a/", "zk:/a/*", "zk:/a//b", "zk:/a/**/b",
			"kv:b", "kv:/k", "kv:b/", "kv:b/.k", "kv:b/k.", "kv:b/k*", "kv:b.c/k", 3,
		}},
		{discard, "on", []any{"zk:/x", "event:x"}},
		{discard, "types", []any{
			[]any{"zk.changed"}, []any{"zk.created", "zk.changed", "zk.deleted", "zk.children"},
			[]any{}, []any{"zk.changed", "zk.changed"}, []any{"kv.put"}, []any{"zk.bogus"}, "zk.changed", []any{1},
		}},
		{parallel, "types", []any{[]any{"kv.put"}, []any{"kv.put", "kv.deleted"}, []any{"zk.changed"}, []any{}}},
		{queue, "types", []any{[]any{"git.push"}, []any{"zk.changed"}}},
		{queue, "key", []any{"**", "infra/*", "a/b?c/[xy]", "x"}},
		{queue, "exec", []any{"true", []any{"/bin/true"}, []any{"/bin/echo", "a", ""}, []any{}, []any{""}, []any{"", "x"}, "", map[string]any{}}},
		{queue, "pipe_stdin", []any{true, false, "true", "maybe", 1}},
		{queue, "run_on_load", []any{true, false, "false"}},
		{queue, "run_mode", []any{"queue", "discard", "parallel", "Queue", "serial", 1}},
		{parallel, "max_parallel", []any{1, 64, 0, -1, "4"}},
		{discard, "max_parallel", []any{0, 2}},
		{queue, "notify_signal", []any{
			"HUP", "hup", "SIGHUP", "sigterm", "SigUsr1", "USR2", "INT", "QUIT", "KILL", "ALRM", "CONT", "STOP", "WINCH",
			"1", "9", "64", 1, 15, 64, "0", "65", 0, 65, "PIPE", "CHLD", "SIG", "SIGSIGHUP", "HUP!", "-1",
		}},
		{discard, "notify_signal", []any{"HUP"}},
		{parallel, "notify_signal", []any{"HUP"}},
		{queue, "timeout", []any{
			"10s", "1m30s", "1.5h", "250ms", "100us", "100µs", "100μs", "5ns", ".5s", "1.s", "0", "10", "2.5", 10, 2.5, 0,
			"-1s", "-1", -1, "10x", "10 s", "s", "1h30", "ten", true,
		}},
		{queue, "kill_grace", []any{"3s", "x"}},
		{queue, "env", []any{
			map[string]any{}, map[string]any{"A": "1", "lower_case": "x y"},
			map[string]any{"HERALD_KEY": "x"}, map[string]any{"A=B": "x"}, []any{"A=1"}, "A=1",
		}},
		{queue, "workdir", []any{"/", "/srv/x", "srv", "./srv", "~/srv"}},
		{queue, "retry", []any{
			map[string]any{"attempts": 1}, map[string]any{"attempts": 5, "backoff": "1s"}, map[string]any{"attempts": 2, "backoff": 3},
			map[string]any{"attempts": 0}, map[string]any{"attempts": -2}, map[string]any{"backoff": "1s"},
			map[string]any{"attempts": 2, "backoff": "soon"}, map[string]any{"attempts": 2, "backoff": "-1s"},
			map[string]any{"attempts": 2, "jitter": "1s"}, 3, "3",
			map[string]any{"attempts": 100}, map[string]any{"attempts": 101},
			map[string]any{"attempts": 2, "backoff": "100ms"}, map[string]any{"attempts": 2, "backoff": "99ms"},
			map[string]any{"attempts": 2, "backoff": "99.9ms"}, map[string]any{"attempts": 2, "backoff": "150ms"},
			map[string]any{"attempts": 2, "backoff": 0.1}, map[string]any{"attempts": 2, "backoff": 0.05},
			map[string]any{"attempts": 2, "backoff": "0"}, map[string]any{"attempts": 2, "backoff": 0},
			map[string]any{"attempts": 2, "backoff": "0s"}, map[string]any{"attempts": 2, "backoff": "500us"},
			map[string]any{"attempts": 2, "backoff": "1m"}, map[string]any{"attempts": 2, "backoff": "1h30m"},
		}},
		{queue, "on_failure", []any{"keep", "stop", "Stop", "retry", 0}},
		{queue, "description", []any{"text", "multi\nline"}},
		{queue, "user", []any{"nobody", "65534"}},
		{queue, "bogus", []any{"x"}},
		{queue, "hooksdir", []any{"/etc/herald/hooks.d", "relative"}},
		{hooks, "hooksdir", []any{"/", "/etc/herald/hooks.d", "/with space/and;$(meta)", "relative", "./x", "~/hooks", "/a\x00b", 5, []any{"/a"}}},
		{hooks, "exec", []any{"true", []any{"/bin/true"}}},
		{hooks, "pipe_stdin", []any{false}},
		{hooks, "timeout", []any{"10s", "-1s"}},
	}
	for _, v := range values {
		for _, val := range v.vals {
			t.Run(fmt.Sprintf("%v/%s=%#v", v.base["name"], v.field, val), func(t *testing.T) {
				c := maps.Clone(v.base)
				c[v.field] = val
				checkAgree(t, c)
			})
		}
	}
}

// Where the schema knowingly differs from watch.Parse. Each case pins the
// difference so that a change on either side is noticed here.
func TestWatchesSchema_KnownDifferences(t *testing.T) {
	samples := sampleWatches(t)
	queue, parallel := samples[0], samples[2]
	for _, c := range []struct {
		why          string
		field        string
		val          any
		parseAccepts bool
		base         map[string]any // default queue
	}{
		// Stricter: yaml.v3's lenient scalar conversions (a number where a
		// string is wanted, YAML 1.1 yes/no for a boolean, a float truncated
		// to an integer), and explicit empty strings that Parse reads as
		// "unset".
		{"exec as a number", "exec", 5, true, nil},
		{"exec argument as a number", "exec", []any{"/bin/sleep", 1}, true, nil},
		{"yes for a boolean", "pipe_stdin", "yes", true, nil},
		{"no for a boolean", "run_on_load", "no", true, nil},
		{"env value as a number", "env", map[string]any{"PORT": 8080}, true, nil},
		{"empty run_mode means the default", "run_mode", "", true, nil},
		{"empty on_failure means the default", "on_failure", "", true, nil},
		{"empty user means no user", "user", "", true, nil},
		{"empty hooksdir beside exec means no hooksdir", "hooksdir", "", true, nil},
		{"max_parallel truncated", "max_parallel", 1.5, true, parallel},
		// Looser: a duration string below retry's 100ms that the pattern
		// does not spell out.
		{"backoff 0.05s", "retry", map[string]any{"attempts": 2, "backoff": "0.05s"}, false, nil},
		{"backoff 50ms10us", "retry", map[string]any{"attempts": 2, "backoff": "50ms10us"}, false, nil},
		// Looser: the schema cannot check glob syntax.
		{"bad glob bracket", "key", "a/[", false, nil},
		{"** inside a segment", "key", "a**", false, nil},
	} {
		t.Run(c.why, func(t *testing.T) {
			if c.base == nil {
				c.base = queue
			}
			w := maps.Clone(c.base)
			w[c.field] = c.val
			data, err := yaml.Marshal(map[string]any{"watches": []any{w}})
			if err != nil {
				t.Fatal(err)
			}
			_, perr := watch.Parse("w.yaml", data)
			serr := schemas.Validate(schemas.Watches, toJSONValue(t, data))
			if (perr == nil) != c.parseAccepts {
				t.Errorf("watch.Parse: %v, want accepted = %v", perr, c.parseAccepts)
			}
			if (serr == nil) == c.parseAccepts {
				t.Errorf("schema: %v, want the opposite of watch.Parse (the known difference)", serr)
			}
		})
	}
}

// ---- 5. daemon config files -------------------------------------------------

// daemon is a --config file schema and the parser it must agree with.
type daemon struct {
	schema string
	// sample is the file in deploy/examples.
	sample string
	// load parses a file as the binary does at start: defaults, the file,
	// the environment and Validate (for the agent also cmd/agent's logger
	// setup, which is where log_format and log_level are checked).
	load func(path string) error
	// decode is LoadConfigFile over the defaults, without Validate.
	decode   func(path string) (any, error)
	defaults func() any
	// invalid is the sentinel a rejected file's error wraps.
	invalid error
}

var daemons = []daemon{
	{
		schema: schemas.Dispatcher, sample: "dispatcher.yaml", invalid: dispatcher.ErrInvalidConfig,
		load: func(path string) error {
			_, err := dispatcher.ParseArgs([]string{"--config", path}, io.Discard)
			return err
		},
		decode: func(path string) (any, error) {
			c := dispatcher.DefaultConfig()
			err := c.LoadConfigFile(path)
			return c, err
		},
		defaults: func() any { return dispatcher.DefaultConfig() },
	},
	{
		schema: schemas.Agent, sample: "agent.yaml", invalid: agent.ErrInvalidConfig,
		load: func(path string) error {
			o, err := agent.ParseFlags([]string{"--config", path}, io.Discard)
			if err != nil {
				return err
			}
			_, err = logging.New(io.Discard, o.Config.LogFormat, o.Config.LogLevel)
			return err
		},
		decode: func(path string) (any, error) {
			c := agent.DefaultConfig()
			err := c.LoadConfigFile(path)
			return c, err
		},
		defaults: func() any { return agent.DefaultConfig() },
	},
}

func daemonFor(t *testing.T, schema string) daemon {
	t.Helper()
	for _, d := range daemons {
		if d.schema == schema {
			return d
		}
	}
	t.Fatalf("no daemon %q", schema)
	return daemon{}
}

// cleanEnv clears the environment the loaders read, so that only the file
// counts.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"HERALD_NATS", "HERALD_NATS_PASSWORD", "HERALD_NATS_TOKEN", "HERALD_ZK_AUTH"} {
		t.Setenv(k, "")
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// absent, as a value in a configCase, removes the key.
var absent = &struct{}{}

// setPath sets the dotted path ("streams.replicas") in doc, making the
// mappings on the way.
func setPath(doc map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := doc[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			doc[k] = next
		}
		doc = next
	}
	if v == absent {
		delete(doc, keys[len(keys)-1])
		return
	}
	doc[keys[len(keys)-1]] = v
}

// sampleConfig returns a fresh copy of the daemon's sample file as the
// schema sees it.
func sampleConfig(t *testing.T, d daemon) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "deploy", "examples", d.sample))
	if err != nil {
		t.Fatal(err)
	}
	return toJSONValue(t, data).(map[string]any)
}

// configVerdicts writes doc as YAML and returns what the loader and the
// schema say about it.
func configVerdicts(t *testing.T, d daemon, doc map[string]any) (data []byte, loadErr, schemaErr error) {
	t.Helper()
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data, d.load(writeTemp(t, data)), schemas.Validate(d.schema, toJSONValue(t, data))
}

func checkConfigAgree(t *testing.T, d daemon, doc map[string]any) {
	t.Helper()
	data, lerr, serr := configVerdicts(t, d, doc)
	if (lerr == nil) != (serr == nil) {
		t.Errorf("the %s loader and its schema disagree on\n%s\nloader: %v\nschema: %v", d.schema, data, lerr, serr)
	}
}

// configCase sets field to each of vals, on the sample with the paths of
// with set first; the loader and the schema must agree on every one.
type configCase struct {
	with  map[string]any
	field string
	vals  []any
}

func runConfigCases(t *testing.T, d daemon, cases []configCase) {
	cleanEnv(t)
	t.Run("each key removed", func(t *testing.T) {
		var paths []string
		for k, v := range sampleConfig(t, d) {
			paths = append(paths, k)
			if m, ok := v.(map[string]any); ok {
				for k2 := range m {
					paths = append(paths, k+"."+k2)
				}
			}
		}
		for _, p := range paths {
			t.Run(p, func(t *testing.T) {
				doc := sampleConfig(t, d)
				setPath(doc, p, absent)
				checkConfigAgree(t, d, doc)
			})
		}
	})
	for _, c := range cases {
		for _, val := range c.vals {
			name := fmt.Sprintf("%s=%#v", c.field, val)
			if len(c.with) > 0 {
				name = fmt.Sprintf("%v/%s", c.with, name)
			}
			t.Run(name, func(t *testing.T) {
				doc := sampleConfig(t, d)
				for p, v := range c.with {
					setPath(doc, p, v)
				}
				setPath(doc, c.field, val)
				checkConfigAgree(t, d, doc)
			})
		}
	}
}

// configDiff is a document on which the schema knowingly differs from the
// loader: the sample with the paths of set set, or raw as the whole file.
type configDiff struct {
	why           string
	set           map[string]any
	raw           *string
	loaderAccepts bool
}

func runConfigDiffs(t *testing.T, d daemon, diffs []configDiff) {
	cleanEnv(t)
	for _, c := range diffs {
		t.Run(c.why, func(t *testing.T) {
			var data []byte
			var lerr, serr error
			if c.raw != nil {
				data = []byte(*c.raw)
				lerr = d.load(writeTemp(t, data))
				var v any
				if err := yaml.Unmarshal(data, &v); err != nil {
					t.Fatal(err)
				}
				serr = schemas.Validate(d.schema, v)
			} else {
				doc := sampleConfig(t, d)
				for p, v := range c.set {
					setPath(doc, p, v)
				}
				data, lerr, serr = configVerdicts(t, d, doc)
			}
			if (lerr == nil) != c.loaderAccepts {
				t.Errorf("loader on\n%s: %v, want accepted = %v", data, lerr, c.loaderAccepts)
			}
			if (serr == nil) == c.loaderAccepts {
				t.Errorf("schema on\n%s: %v, want the opposite of the loader (the known difference)", data, serr)
			}
		})
	}
}

// The samples in deploy/examples validate, load with the real loaders and
// hold the defaults they say they hold.
func TestConfigSchemas_Samples(t *testing.T) {
	for _, d := range daemons {
		t.Run(d.schema, func(t *testing.T) {
			cleanEnv(t)
			p := filepath.Join("..", "deploy", "examples", d.sample)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			mustValid(t, d.schema, toJSONValue(t, data))
			if err := d.load(p); err != nil {
				t.Fatalf("loader: %v", err)
			}
			got, err := d.decode(p)
			if err != nil {
				t.Fatalf("LoadConfigFile: %v", err)
			}
			if want := d.defaults(); !reflect.DeepEqual(got, want) {
				t.Errorf("%s says its values are the defaults, but it loads as\n%+v\nnot\n%+v", d.sample, got, want)
			}
		})
	}
}

// Each file in deploy/examples (and its subdirectories) is exactly one kind
// of file.
func TestConfigSchemas_ExamplesHaveOneSchema(t *testing.T) {
	paths := exampleFiles(t)
	if len(paths) < 5 {
		t.Fatalf("deploy/examples: %v", paths)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var fits []string
			for _, name := range []string{schemas.Watches, schemas.Dispatcher, schemas.Agent, schemas.Hooks, schemas.Jobs} {
				if schemas.Validate(name, toJSONValue(t, data)) == nil {
					fits = append(fits, name)
				}
			}
			if len(fits) != 1 {
				t.Errorf("%s validates against %v, want exactly one schema", p, fits)
			}
		})
	}
}

// Both config schemas carry their own copy of the shared definitions, so
// that each stands alone; the copies must not drift apart.
func TestConfigSchemas_SharedDefsAgree(t *testing.T) {
	for _, def := range []string{"nats", "duration", "positiveDuration"} {
		t.Run(def, func(t *testing.T) {
			a := schemaAt(t, schemas.Dispatcher, "/$defs/"+def)
			b := schemaAt(t, schemas.Agent, "/$defs/"+def)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("$defs/%s differs between the dispatcher and agent schemas", def)
			}
		})
	}
}

// testdata/<schema>/valid and invalid: both the loader and the schema
// accept, or both reject.
func TestConfigSchemas_Files(t *testing.T) {
	for _, d := range daemons {
		t.Run(d.schema, func(t *testing.T) {
			cleanEnv(t)
			valid, err := filepath.Glob(filepath.Join("testdata", d.schema, "valid", "*.yaml"))
			if err != nil || len(valid) < 2 {
				t.Fatalf("testdata/%s/valid: %v, %v", d.schema, valid, err)
			}
			invalid, err := filepath.Glob(filepath.Join("testdata", d.schema, "invalid", "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, must := range []string{"unknown_key", "wrong_type", "bad_duration", "number_duration", "negative_duration"} {
				if !slices.Contains(invalid, filepath.Join("testdata", d.schema, "invalid", must+".yaml")) {
					t.Errorf("testdata/%s/invalid/%s.yaml is missing", d.schema, must)
				}
			}
			for _, p := range valid {
				t.Run("valid/"+filepath.Base(p), func(t *testing.T) {
					if err := d.load(p); err != nil {
						t.Errorf("loader: %v", err)
					}
					data, _ := os.ReadFile(p)
					mustValid(t, d.schema, toJSONValue(t, data))
				})
			}
			for _, p := range invalid {
				t.Run("invalid/"+filepath.Base(p), func(t *testing.T) {
					if err := d.load(p); !errors.Is(err, d.invalid) {
						t.Errorf("loader = %v, want %v", err, d.invalid)
					}
					data, _ := os.ReadFile(p)
					mustInvalid(t, d.schema, toJSONValue(t, data))
				})
			}
		})
	}
}

// tlsFiles makes files for the settings that name one (the loaders check
// that they exist).
func tlsFiles(t *testing.T) (ca, cert, key, creds string) {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []*string{&ca, &cert, &key, &creds} {
		f, err := os.CreateTemp(dir, "f")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		*p = f.Name()
	}
	return ca, cert, key, creds
}

// secretFile makes a file holding a secret, for password_file and
// token_file (the loaders read it and refuse an empty one).
func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDispatcherSchema_AgreesWithLoader(t *testing.T) {
	d := daemonFor(t, schemas.Dispatcher)
	ca, cert, key, creds := tlsFiles(t)
	ext := map[string]any{"nats.url": "nats://10.0.0.1:4222"}
	durations := []any{
		"2m", "1s", ".5s", "1.s", "+1s", "1h2m3s4ms5us6ns", "1µs", "1μs", "010s",
		"0", "0s", "00s", "0.0s", "-1s", "10", "2 m", "1e3s", "1S", "s", 10, 0,
	}
	runConfigCases(t, d, []configCase{
		{nil, "nats_listen", []any{
			"127.0.0.1:4222", ":0", "[::1]:4222", "localhost:65535", "h:00080", "[fe80::1%eth0]:1",
			"", "host", "host:", "host:65536", "host:99999", "host:http", "::1:4222", "[::1]", "[::1]x:1", "a]:1", "a[b:1", 4222,
		}},
		{ext, "nats_listen", []any{"garbage", ""}},
		{nil, "data", []any{"/srv/herald", "rel/dir", "", "  "}},
		{ext, "data", []any{""}},
		{nil, "http", []any{"", "127.0.0.1:7070", ":8080", "[::]:80", "localhost", "x:99999", 7070, false}},
		{nil, "nats.url", []any{"", "nats://a:4222", "nats://a:4222,nats://b:4222", "  "}},
		{nil, "nats", []any{"nats://a:4222", []any{}, 5, map[string]any{}}},
		{nil, "nats.bogus", []any{"x"}},
		{map[string]any{"nats.user": "u"}, "nats.password", []any{"p"}},
		{nil, "nats.password", []any{"p", ""}},
		{ext, "nats.password", []any{"p"}},
		{nil, "nats.token", []any{"t", ""}},
		{map[string]any{"nats.user": "u", "nats.password": "p"}, "nats.token", []any{"t", ""}},
		{map[string]any{"nats.user": "u"}, "nats.password_file", []any{secretFile(t)}},
		{nil, "nats.password_file", []any{secretFile(t)}},
		{map[string]any{"nats.user": "u", "nats.password": "p"}, "nats.password_file", []any{secretFile(t), ""}},
		{nil, "nats.token_file", []any{secretFile(t), ""}},
		{map[string]any{"nats.token": "t"}, "nats.token_file", []any{secretFile(t)}},
		{map[string]any{"nats.user": "u", "nats.password": "p"}, "nats.token_file", []any{secretFile(t)}},
		{nil, "nats.creds", []any{"", creds}},
		{ext, "nats.creds", []any{creds}},
		{nil, "nats.tls_cert", []any{cert}},
		{map[string]any{"nats.tls_key": key}, "nats.tls_cert", []any{cert, ""}},
		{nil, "nats.tls_ca", []any{ca}},
		{map[string]any{"nats.tls_cert": cert, "nats.tls_key": key}, "nats.tls_ca", []any{ca}},
		{ext, "nats.tls_ca", []any{ca}},
		{nil, "streams.dedup_window", durations},
		{nil, "streams.events_per_key", []any{1, 64, 0, -1, "64", true}},
		{nil, "streams.events_max_age", []any{"168h", "2m", "0", "x"}},
		{nil, "streams.outcomes_per_subject", []any{1, 0, "1"}},
		{nil, "streams.outcomes_max_age", []any{"1h", "0s", "-1h"}},
		{nil, "streams.replicas", []any{1, 0, 2, "1"}},
		{ext, "streams.replicas", []any{3, 5, 6, 0}},
		{nil, "streams", []any{5, "x", map[string]any{}}},
		{nil, "streams.bogus", []any{1}},
		{nil, "log_format", []any{"json", "console", "text", "JSON", ""}},
		{nil, "log_level", []any{"debug", "info", "warn", "error", "verbose", ""}},
		{nil, "ready_file", []any{"", "/run/herald/ready.json"}},
		{nil, "connect_timeout", durations},
		{nil, "shutdown_timeout", []any{"10s", "1ns", "0s", "-10s", 10}},
		{nil, "zk.servers", []any{"", "zk-1:2181,zk-2:2181"}},
		{nil, "zk.chroot", []any{"", "/herald"}},
		{nil, "zk.auth", []any{"", "digest:herald:secret"}},
		{nil, "zk.session_timeout", []any{"0", "10s", "x", 10}},
		{nil, "zk.watch", []any{[]any{}, []any{"/app", "/cfg/**"}, "/app", map[string]any{}}},
		{nil, "zk.bogus", []any{1}},
		{nil, "zk", []any{"zk-1:2181", map[string]any{}}},
		{nil, "kv.watch", []any{[]any{}, []any{"config", "config/app.yaml", "config/app.>"}, "config"}},
		{nil, "kv.bogus", []any{1}},
		{nil, "call_methods", []any{[]any{}, []any{"create_job", "deploy.v2", "Kill-Job"}, []any{"kill_*"}, []any{"a", "a"}, []any{""}, []any{"-x"}, "create_job"}},
		{nil, "bogus", []any{"x"}},
		{nil, "name", []any{"web-1"}},
	})
}

// Where the dispatcher schema knowingly differs from dispatcher.ParseArgs.
func TestDispatcherSchema_KnownDifferences(t *testing.T) {
	d := daemonFor(t, schemas.Dispatcher)
	empty, comments := "", "# nothing set\n"
	runConfigDiffs(t, d, []configDiff{
		// Stricter: an empty file, null and yaml.v3's lenient scalar
		// conversions.
		{why: "empty file is the defaults", raw: &empty, loaderAccepts: true},
		{why: "comments only is the defaults", raw: &comments, loaderAccepts: true},
		{why: "null keeps the default", set: map[string]any{"http": nil}, loaderAccepts: true},
		{why: "null mapping keeps the defaults", set: map[string]any{"streams": nil}, loaderAccepts: true},
		{why: "number for a string", set: map[string]any{"ready_file": 42}, loaderAccepts: true},
		{why: "float truncated", set: map[string]any{"streams.replicas": 1.5}, loaderAccepts: true},
		{why: "log levels zerolog knows", set: map[string]any{"log_level": "trace"}, loaderAccepts: true},
		{why: "log level in capitals", set: map[string]any{"log_level": "INFO"}, loaderAccepts: true},
		// Looser: what depends on the environment, the file system or
		// another field's value, and overflow.
		{why: "user's password may come from the environment", set: map[string]any{"nats.user": "u"}},
		{why: "files must exist", set: map[string]any{"nats.url": "nats://a:4222", "nats.creds": "/nonexistent/herald.creds"}},
		{why: "a password file must be readable", set: map[string]any{"nats.user": "u", "nats.password_file": "/nonexistent/password"}},
		{why: "events_max_age below dedup_window", set: map[string]any{"streams.events_max_age": "1m"}},
		{why: "duration overflows", set: map[string]any{"connect_timeout": "3000000h"}},
		{why: "zk.Config.Validate checks nothing yet", set: map[string]any{"zk.session_timeout": "-1s"}, loaderAccepts: true},
	})
	t.Run("password from the environment", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("HERALD_NATS_PASSWORD", "p")
		doc := sampleConfig(t, d)
		setPath(doc, "nats.user", "u")
		data, lerr, serr := configVerdicts(t, d, doc)
		if lerr != nil || serr != nil {
			t.Errorf("with HERALD_NATS_PASSWORD set, on\n%s\nloader: %v\nschema: %v", data, lerr, serr)
		}
	})
}

func TestAgentSchema_AgreesWithLoader(t *testing.T) {
	d := daemonFor(t, schemas.Agent)
	ca, cert, key, creds := tlsFiles(t)
	runConfigCases(t, d, []configCase{
		{nil, "name", []any{"web-1", "a b", ""}},
		{nil, "watches", []any{"/etc/herald/watches.d", "rel", ""}},
		{nil, "state", []any{"/var/lib/herald/agent", ""}},
		{nil, "metrics", []any{"", ":9090", "127.0.0.1:0"}},
		{nil, "log_format", []any{"json", "console", "xml", "JSON"}},
		{nil, "log_level", []any{"debug", "info", "warn", "error", "verbose"}},
		{nil, "heartbeat", []any{"10s", "100ms", "1m", ".5s", "+1s", "0", "0s", "-1s", "10", 10, "1e3s", "10 s"}},
		{nil, "ack_wait", []any{"30s", "1s", "2m", "0s", "-30s", 30}},
		{nil, "shutdown_grace", []any{"30s", "1ns", "0", "-1s"}},
		{nil, "reload_delay", []any{"100ms", "0", "0s", "1.5s", "-1ms", "x", 0}},
		{nil, "nats.url", []any{"", "nats://a:4222,nats://b:4222"}},
		{nil, "nats.user", []any{"u"}},
		{map[string]any{"nats.user": "u"}, "nats.token", []any{"t", ""}},
		{map[string]any{"nats.user": "u"}, "nats.token_file", []any{secretFile(t), ""}},
		{map[string]any{"nats.user": "u"}, "nats.password_file", []any{secretFile(t), ""}},
		{map[string]any{"nats.token": "t"}, "nats.token_file", []any{secretFile(t)}},
		{map[string]any{"nats.password": "p"}, "nats.password_file", []any{secretFile(t)}},
		{nil, "nats.tls_cert", []any{cert}},
		{map[string]any{"nats.tls_key": key}, "nats.tls_cert", []any{cert, ""}},
		{nil, "nats.tls_ca", []any{ca}},
		{nil, "nats.creds", []any{creds}},
		{nil, "nats", []any{"nats://a:4222", []any{}}},
		{nil, "nats.bogus", []any{1}},
		{nil, "bogus", []any{1}},
		{nil, "streams", []any{map[string]any{"replicas": 1}}},
		{nil, "nats_listen", []any{":4222"}},
	})
}

// Where the agent schema knowingly differs from agent.ParseFlags and
// cmd/agent's logger setup.
func TestAgentSchema_KnownDifferences(t *testing.T) {
	d := daemonFor(t, schemas.Agent)
	empty := ""
	runConfigDiffs(t, d, []configDiff{
		// Stricter.
		{why: "empty file is the defaults", raw: &empty, loaderAccepts: true},
		{why: "null keeps the default", set: map[string]any{"name": nil}, loaderAccepts: true},
		{why: "number for a string", set: map[string]any{"name": 42}, loaderAccepts: true},
		{why: "log levels zerolog knows", set: map[string]any{"log_level": "trace"}, loaderAccepts: true},
		// Looser: lower bounds above zero, the file system, overflow.
		{why: "heartbeat below 100ms", set: map[string]any{"heartbeat": "50ms"}},
		{why: "ack_wait below 1s", set: map[string]any{"ack_wait": "500ms"}},
		{why: "files must exist", set: map[string]any{"nats.tls_ca": "/nonexistent/ca.pem"}},
		{why: "duration overflows", set: map[string]any{"shutdown_grace": "3000000h"}},
	})
}

// TestEventReportSchema_RoundTrip: summaries as eventreport builds them
// (pending, decided, done, none expected) validate; the counts name every
// status and pending; broken ones do not validate.
func TestEventReportSchema_RoundTrip(t *testing.T) {
	stored := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	counts := map[string]int{eventreport.StatusPending: 0, eventreport.StatusWaiting: 1, eventreport.StatusRunning: 0}
	for _, s := range events.Statuses {
		counts[string(s)] = 0
	}
	counts["failed"] = 1
	sum := eventreport.Summary{
		EventID: "3f1c2a8e-4b7d-4c1e-9a2b-5d6e7f809a1b", EventType: "git.push", Key: "/git/head", Seq: 42, Stored: stored,
		Expected: 2, Decided: 1, Counts: counts, Missing: []string{"web-2"},
		Hosts: []eventreport.Host{
			{Host: "web-1", Watch: "git-pull", Status: "failed", ExitCode: intp(3), Attempts: 1, DurationMS: 12.5, Stderr: "fatal: bad ref", Reported: stored.Add(time.Second)},
			{Host: "web-2", Watch: "git-pull", Status: eventreport.StatusWaiting},
		},
		LastOutcome: stored.Add(time.Second), ToLastOutcomeMS: 1000,
		Rollouts: []eventreport.Rollout{{Watch: "git-pull", Planned: 2, MaxHosts: 1, Canaries: []string{"web-1"}, Started: 1, Finished: 1, Failures: 1,
			Halted: &eventreport.Halt{Reason: "canary web-1: failed", By: "web-1", At: stored.Add(time.Second), Auto: true}}},
	}
	mustValid(t, schemas.EventReport, sum)
	none := eventreport.Summary{EventID: "x", EventType: "git.push", Key: "/k", Stored: stored, Done: true, Counts: counts, Hosts: []eventreport.Host{}, Missing: []string{}, Watch: "git-pull"}
	mustValid(t, schemas.EventReport, none)
	var want []string
	for _, s := range events.Statuses {
		want = append(want, string(s))
	}
	want = append(want, eventreport.StatusPending, eventreport.StatusWaiting, eventreport.StatusRunning)
	slices.Sort(want)
	if got := requiredNames(schemaAt(t, schemas.EventReport, "/$defs/counts")); !slices.Equal(got, want) {
		t.Errorf("counts required %v, want every status and pending %v", got, want)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"bad status":     func(m map[string]any) { m["hosts"].([]any)[0].(map[string]any)["status"] = "running?" },
		"unknown count":  func(m map[string]any) { m["counts"].(map[string]any)["maybe"] = 1 },
		"missing counts": func(m map[string]any) { delete(m, "counts") },
		"extra member":   func(m map[string]any) { m["pid"] = 1 },
		"host no name":   func(m map[string]any) { delete(m["hosts"].([]any)[0].(map[string]any), "host") },
	} {
		t.Run(name, func(t *testing.T) {
			doc := toMap(t, sum)
			mutate(doc)
			mustInvalid(t, schemas.EventReport, doc)
		})
	}
}

// The schema's traceparent pattern and events.ValidTraceParent accept the
// same values.
func TestEventSchema_TraceParentMatchesValidTraceParent(t *testing.T) {
	m := events.New("s", "a.b", "k", nil).ToMsg()
	for _, tp := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"00-abc-def-01", "",
	} {
		t.Run(fmt.Sprintf("%q", tp), func(t *testing.T) {
			doc := structured(t, m.Header, m.Data)
			doc["traceparent"] = tp
			goOK := events.ValidTraceParent(tp)
			schemaErr := schemas.Validate(schemas.Event, doc)
			if goOK != (schemaErr == nil) {
				t.Errorf("ValidTraceParent = %v, schema: %v", goOK, schemaErr)
			}
		})
	}
}
