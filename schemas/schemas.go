// Package schemas holds the JSON Schemas (draft 2020-12) of Herald's wire
// types and config files, embedded in the binary: the event in CloudEvents
// structured form, the run outcome, the agent announcement, the
// scheduler-call wire types, the watch file,
// the dispatcher's hook files and job opt-in files, the dispatcher's and
// the agent's --config files, and the event report. It serves and
// validates against them; it knows nothing about NATS, processes or how
// the documents are produced. The Go types (in events/, events/call,
// internal/watch, internal/dispatcher, internal/agent, internal/natsconn,
// internal/bus, internal/hookfile, internal/handlerspec and
// internal/eventreport) and
// their parsers are the source of truth, and this package's tests fail when
// a schema and its Go type or parser disagree.
//
// Each schema is a file NAME.schema.json in this directory whose $id is
// BaseID + the file name. To add one (the herald CLI's config, say):
//
//  1. write NAME.schema.json, with additionalProperties false on every
//     object, descriptions on every property and $defs for nested types;
//  2. add a Name constant below (Names picks the file up by itself);
//  3. add a row for each Go struct it describes to the agreement table in
//     schemas_test.go (TestSchemas_MatchGoTypes, which fails for a schema
//     without rows), plus valid and invalid documents that the Go parser and
//     the schema must both accept or both reject.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// BaseID prefixes every schema's $id.
const BaseID = "https://github.com/heraldhq/herald/schemas/"

// Schema names, as given to Get and Validate.
const (
	// Event is a CloudEvent in structured JSON form.
	Event = "event"
	// Outcome is events.Outcome.
	Outcome = "outcome"
	// Announcement is events.Announcement.
	Announcement = "announcement"
	// Watches is a watch file (internal/watch).
	Watches = "watches"
	// Dispatcher is the dispatcher's --config file (dispatcher.Config).
	Dispatcher = "dispatcher"
	// Agent is the agent's --config file (agent.Config).
	Agent = "agent"
	// Hooks is a hook file of the dispatcher's hooks directory: hooks:
	// and handlers: lists (internal/hookfile, internal/handlerspec).
	Hooks = "hooks"
	// Jobs is a job opt-in file, jobs/NAME.yaml under the hooks directory
	// (hookfile.JobFile).
	Jobs = "jobs"
	// Call is one of the scheduler-call wire types of events/call: a
	// call, a verdict, a call.confirm record or a post/err hooks report.
	Call = "call"
	// EventReport is eventreport.Summary: what the fleet did with one
	// event (herald publish --wait --json, GET /v1/events/{id}/rollout).
	EventReport = "eventreport"
)

const suffix = ".schema.json"

// Errors returned by this package.
var (
	// ErrUnknownSchema is returned for a name that has no schema.
	ErrUnknownSchema = errors.New("unknown schema")
	// ErrInvalid wraps every document that a schema rejects; the
	// *jsonschema.ValidationError is wrapped too.
	ErrInvalid = errors.New("document does not match schema")
)

//go:embed *.json
var files embed.FS

// Names lists the schema names, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), suffix); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Get returns the schema called name ("outcome" or "outcome.schema.json").
func Get(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, suffix)
	if name == "" || strings.ContainsAny(name, "/\\") {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSchema, name)
	}
	b, err := files.ReadFile(name + suffix)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownSchema, name)
	}
	return b, nil
}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

// compileAll compiles every embedded schema, once, with format assertions
// on (uuid, date-time).
func compileAll() (map[string]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		names := Names()
		for _, n := range names {
			b, err := Get(n)
			if err != nil {
				compileErr = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				compileErr = fmt.Errorf("schema %s: %w", n, err)
				return
			}
			if err := c.AddResource(BaseID+n+suffix, doc); err != nil {
				compileErr = fmt.Errorf("schema %s: %w", n, err)
				return
			}
		}
		m := make(map[string]*jsonschema.Schema, len(names))
		for _, n := range names {
			s, err := c.Compile(BaseID + n + suffix)
			if err != nil {
				compileErr = fmt.Errorf("compile schema %s: %w", n, err)
				return
			}
			m[n] = s
		}
		compiled = m
	})
	return compiled, compileErr
}

// Validate checks doc against the schema called name. doc is JSON text when
// it is a []byte or json.RawMessage; any other value (a Go struct, or the
// map[string]any that YAML decodes to) is validated as encoding/json
// marshals it. A rejected document yields an error wrapping ErrInvalid and
// the *jsonschema.ValidationError that says where and why.
func Validate(name string, doc any) error {
	name = strings.TrimSuffix(name, suffix)
	all, err := compileAll()
	if err != nil {
		return err
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownSchema, name)
	}
	var raw []byte
	switch d := doc.(type) {
	case []byte:
		raw = d
	case json.RawMessage:
		raw = d
	default:
		if raw, err = json.Marshal(doc); err != nil {
			return fmt.Errorf("validate %s: encode document: %w", name, err)
		}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("validate %s: decode document: %w", name, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%w %s: %w", ErrInvalid, name, err)
	}
	return nil
}
