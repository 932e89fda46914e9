package schemas_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/heraldhq/herald/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// metaSchemaCheck validates a schema document against the meta-schema its
// $schema names (formats asserted, so every "pattern" must be a valid
// regex), with a compiler of its own: not only as a side effect of
// compiling Herald's schemas.
func metaSchemaCheck(t *testing.T, raw []byte) error {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatal("not a JSON object")
	}
	url, _ := m["$schema"].(string)
	if url != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema is %q, want draft 2020-12", url)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	meta, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile the meta-schema: %v", err)
	}
	return meta.Validate(doc)
}

// Every schema in schemas/ is valid against its JSON Schema meta-schema.
func TestSchemas_MetaSchema(t *testing.T) {
	names := schemas.Names()
	if len(names) < 8 {
		t.Fatalf("schemas: %v", names)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			if err := metaSchemaCheck(t, must(schemas.Get(n))); err != nil {
				t.Errorf("%s.schema.json is not a valid JSON Schema: %v", n, err)
			}
		})
	}
	// The check can fail: a misspelt type and a regex that does not
	// compile are both rejected.
	for _, bad := range []string{
		`{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "strnig"}`,
		`{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string", "pattern": "a("}`,
	} {
		if err := metaSchemaCheck(t, []byte(bad)); err == nil || !strings.Contains(err.Error(), "jsonschema") {
			t.Errorf("meta-schema accepts %s (err %v)", bad, err)
		}
	}
}
