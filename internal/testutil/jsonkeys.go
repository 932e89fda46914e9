package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// JSONKeys returns the top-level keys of one JSON object (a log line), in
// order and with repeats: decoding into a map would hide a key given twice.
func JSONKeys(line string) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not an object: %q", line)
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, err
	}
	return keys, nil
}
