package schemas_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// enumOf returns the enum of a property.
func enumOf(t *testing.T, obj map[string]any, prop string) []string {
	t.Helper()
	p, ok := obj["properties"].(map[string]any)[prop].(map[string]any)
	if !ok {
		t.Fatalf("no property %q", prop)
	}
	var out []string
	for _, v := range p["enum"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// goFields returns the tag names of typ's exported, serialised fields under
// tagKey ("json" or "yaml"), and which of them are always emitted (no
// omitempty or omitzero option).
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
	for _, want := range []string{schemas.Announcement, schemas.Event, schemas.Outcome, schemas.Watches} {
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
		required: []string{"exec", "name", "on"},
	},
	{
		schema: schemas.Watches, pointer: "/$defs/retry", typ: reflect.TypeFor[watch.Retry](), tag: "yaml",
		required: []string{"attempts"},
	},
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
		{schemas.Announcement, "/$defs/watchSummary", "run_mode", modes},
		{schemas.Watches, "/$defs/watch", "run_mode", modes},
		{schemas.Watches, "/$defs/watch", "on_failure", []string{watch.FailureKeep, watch.FailureStop}},
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
	mustValid(t, schemas.Outcome, full)
	t.Run("each member removed", func(t *testing.T) {
		req := requiredNames(schemaAt(t, schemas.Outcome, ""))
		for k := range full {
			doc := maps.Clone(full)
			delete(doc, k)
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
			if slices.Contains(req, k) {
				mustInvalid(t, schemas.Announcement, doc)
			} else {
				mustValid(t, schemas.Announcement, doc)
			}
		}
	})
	for name, mutate := range map[string]func(m map[string]any, w map[string]any){
		"bad run mode":         func(_, w map[string]any) { w["run_mode"] = "serial" },
		"summary extra member": func(_, w map[string]any) { w["key"] = "**" },
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
		"unknown extension":   func(m map[string]any) { m["traceparent"] = "00-abc-def-01" },
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
// with a top-level watches key. deploy/examples also holds other configs.
func isWatchFile(t *testing.T, data []byte) bool {
	t.Helper()
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return false
	}
	_, ok := top["watches"]
	return ok
}

func exampleFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join("..", "deploy", "examples", pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
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

	queue, discard, parallel := samples[0], samples[1], samples[2]
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
		}},
		{queue, "on_failure", []any{"keep", "stop", "Stop", "retry", 0}},
		{queue, "description", []any{"text", "multi\nline"}},
		{queue, "user", []any{"nobody", "65534"}},
		{queue, "bogus", []any{"x"}},
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
		{"max_parallel truncated", "max_parallel", 1.5, true, parallel},
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
