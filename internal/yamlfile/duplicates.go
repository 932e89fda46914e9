package yamlfile

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Duplicates returns an Error for every key that repeats an earlier key of
// its mapping, in n and every node under it: yaml.v3 decodes such a key
// silently (the last one wins) when a document is decoded key by key. Each
// Error names the mapping as Field (field, then ".key" and "[i]" below it;
// "" for the top level), the repeated key's line and the first one's:
// `duplicate key "x" (first at line N)`. File is left for the caller.
// Aliases are not followed: the anchored node is checked where it stands.
func Duplicates(n *yaml.Node, field string) []*Error {
	var errs []*Error
	var walk func(n *yaml.Node, field string)
	walk = func(n *yaml.Node, field string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, field)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", field, i))
			}
		case yaml.MappingNode:
			first := map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind == yaml.ScalarNode {
					if line, dup := first[k.Value]; dup {
						errs = append(errs, &Error{Line: k.Line, Field: field,
							Msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, line)})
					} else {
						first[k.Value] = k.Line
					}
				}
				sub := k.Value
				if field != "" {
					sub = field + "." + k.Value
				}
				walk(v, sub)
			}
		}
	}
	walk(n, field)
	return errs
}

// CheckDuplicates reports the duplicate keys of the YAML document data
// (Duplicates, with File set to path), joined, or nil. A document that does
// not parse is left to the caller's decoder, which reports why: nil.
func CheckDuplicates(path string, data []byte) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil
	}
	var errs []error
	for _, e := range Duplicates(&doc, "") {
		e.File = path
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
