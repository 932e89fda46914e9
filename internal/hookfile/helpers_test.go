package hookfile_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
)

// writeFile writes dir/name atomically (rename), making parent dirs.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	return testutil.WriteFile(t, dir, name, content)
}
