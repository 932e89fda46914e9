package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/heraldhq/herald/internal/version"
)

// versionCmd prints the version line of package version (herald version,
// herald --version).
type versionCmd struct{}

func (c *versionCmd) flags(fs *flag.FlagSet) {}

func (c *versionCmd) run(ctx context.Context, m *Main, s stdio, args []string) error {
	if len(args) > 0 {
		return usageErrorf("version takes no arguments")
	}
	fmt.Fprintln(s.out, version.Get().String("herald"))
	return nil
}
