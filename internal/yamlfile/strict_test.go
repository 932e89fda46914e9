package yamlfile_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/yamlfile"
)

func TestDecodeStrict(t *testing.T) {
	type conf struct {
		Name  string        `yaml:"name"`
		Wait  time.Duration `yaml:"wait"`
		Inner struct {
			Port int `yaml:"port"`
		} `yaml:"inner"`
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown key", "name: a\nwait: 1s\nbogus: 1\n", "f.yaml:3: field bogus not found in type yamlfile_test.conf"},
		{"bad value", "name: a\ninner:\n  port: many\n", "f.yaml:3: cannot unmarshal !!str `many` into int"},
		{"every problem, joined", "bogus: 1\ninner:\n  port: many\n",
			"f.yaml:1: field bogus not found in type yamlfile_test.conf; f.yaml:3: cannot unmarshal !!str `many` into int"},
		{"syntax error", "name: a\ninner: [\n", "f.yaml:2: did not find expected node content"},
		{"duplicate key", "name: a\nname: b\n", `f.yaml:2: duplicate key "name" (first at line 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c conf
			err := yamlfile.DecodeStrict("f.yaml", []byte(tc.doc), &c)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("DecodeStrict = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("good and empty documents", func(t *testing.T) {
		c := conf{Name: "kept"}
		if err := yamlfile.DecodeStrict("f.yaml", nil, &c); err != nil || c.Name != "kept" {
			t.Fatalf("empty document: %v, %+v", err, c)
		}
		if err := yamlfile.DecodeStrict("f.yaml", []byte("wait: 2s\ninner: {port: 7}\n"), &c); err != nil {
			t.Fatal(err)
		}
		if c.Name != "kept" || c.Wait != 2*time.Second || c.Inner.Port != 7 {
			t.Errorf("decoded %+v", c)
		}
	})
}
