package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/schemas"
)

// pythonValidate checks every schema with Python's jsonschema (its own
// meta-schema check) and validates docs with it, as an independent
// validator would: the verdict per doc, or a schema error.
const pythonValidate = `import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(77)
d = json.load(sys.stdin)
out = {'schema_errors': {}, 'valid': []}
validators = {}
for name, schema in d['schemas'].items():
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[name] = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    except Exception as e:
        out['schema_errors'][name] = str(e)
for doc in d['docs']:
    v = validators.get(doc['schema'])
    try:
        out['valid'].append(v is not None and v.is_valid(doc['doc']))
    except Exception as e:
        out['schema_errors'][doc['schema']] = str(e)
        out['valid'].append(False)
json.dump(out, sys.stdout)`

// Python's jsonschema, an independent validator, accepts every schema and
// gives the same verdict as Herald's on every example in deploy/examples
// and every valid and invalid document under testdata. Skipped where
// python3 or its jsonschema module is absent.
func TestSchemas_PythonJSONSchemaAgrees(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	type doc struct {
		path, schema string
		want         bool
	}
	var docs []doc
	for _, p := range exampleFiles(t) {
		k, ok := exampleKindOf(p)
		if !ok {
			t.Fatalf("%s is of no known kind", p)
		}
		docs = append(docs, doc{p, k.schema, true})
	}
	for dir, schema := range map[string]string{
		"testdata": schemas.Watches, "testdata/agent": schemas.Agent, "testdata/dispatcher": schemas.Dispatcher,
		"testdata/hooks": schemas.Hooks, "testdata/jobs": schemas.Jobs,
	} {
		for _, verdict := range []string{"valid", "invalid"} {
			paths, err := filepath.Glob(filepath.Join(dir, verdict, "*.yaml"))
			if err != nil || len(paths) == 0 {
				t.Fatalf("%s/%s: %v %v", dir, verdict, paths, err)
			}
			for _, p := range paths {
				docs = append(docs, doc{p, schema, verdict == "valid"})
			}
		}
	}
	in := map[string]any{"schemas": map[string]any{}, "docs": []any{}}
	for _, n := range schemas.Names() {
		var s any
		if err := json.Unmarshal(must(schemas.Get(n)), &s); err != nil {
			t.Fatal(err)
		}
		in["schemas"].(map[string]any)[n] = s
	}
	for _, d := range docs {
		v := toJSONValue(t, must(os.ReadFile(d.path)))
		// Herald's own verdict first: the testdata says what it should be.
		if got := schemas.Validate(d.schema, v) == nil; got != d.want {
			t.Fatalf("%s: Herald's schema %s says valid=%v, want %v", d.path, d.schema, got, d.want)
		}
		in["docs"] = append(in["docs"].([]any), map[string]any{"schema": d.schema, "doc": v})
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", pythonValidate)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 77 {
		t.Skip("python3 has no jsonschema module")
	}
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var res struct {
		SchemaErrors map[string]string `json:"schema_errors"`
		Valid        []bool            `json:"valid"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Valid) != len(docs) {
		t.Fatalf("python3 answered %s (%v)", out, err)
	}
	for n, e := range res.SchemaErrors {
		t.Errorf("Python's jsonschema rejects %s.schema.json: %s", n, e)
	}
	for i, d := range docs {
		if res.Valid[i] != d.want {
			t.Errorf("%s: Python's jsonschema says valid=%v against %s, Herald's says %v", d.path, res.Valid[i], d.schema, d.want)
		}
	}
}
