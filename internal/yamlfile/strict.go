package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlLineRe is the line a yaml.v3 message starts with ("yaml: line N:
// ..." for a syntax error, "line N: ..." for each of a TypeError's).
var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// DecodeStrict decodes the YAML document data, read from path, over out, as
// the dispatcher's and the agent's --config files are read: a duplicate key
// (CheckDuplicates) or a key out does not have is an error, and every
// problem names the file and, when yaml.v3 gives one, the line: "PATH:LINE:
// MSG", several joined with "; ". An empty document leaves out as it is.
func DecodeStrict(path string, data []byte, out any) error {
	if err := CheckDuplicates(path, data); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(out)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for i, m := range msgs {
		if sm := yamlLineRe.FindStringSubmatch(m); sm != nil {
			msgs[i] = fmt.Sprintf("%s:%s: %s", path, sm[1], sm[2])
		} else {
			msgs[i] = fmt.Sprintf("%s: %s", path, strings.TrimPrefix(m, "yaml: "))
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}
