package znode

import (
	"fmt"
	"path"
	"strings"
)

// DefaultAllow is what zk.allow is when absent: every path. Narrow it: an
// agent's declaration makes the dispatcher read that znode with its own
// ZooKeeper credentials and publish what it holds.
var DefaultAllow = []string{"/**"}

// CheckAllow checks one zk.allow glob: an absolute path whose segments
// are names or path.Match patterns ("*": any one name), the last one
// possibly "**" (the path above it and everything under it).
func CheckAllow(glob string) error {
	if !strings.HasPrefix(glob, "/") {
		return fmt.Errorf("%q: want an absolute path glob (/PATH, /PATH/*, /PATH/**)", glob)
	}
	segs := segments(glob)
	for i, s := range segs {
		if s == "**" {
			if i != len(segs)-1 {
				return fmt.Errorf("%q: ** only as the last segment", glob)
			}
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return fmt.Errorf("%q: segment %q: %w", glob, s, err)
		}
	}
	return nil
}

// Allowed reports whether the root at p (a subtree root with subtree)
// lies wholly within one of globs: an exact path matched by a glob, a
// subtree only under a glob that ends in "/**".
func Allowed(globs []string, p string, subtree bool) bool {
	for _, g := range globs {
		if allowedBy(g, p, subtree) {
			return true
		}
	}
	return false
}

func allowedBy(glob, p string, subtree bool) bool {
	g, ps := segments(glob), segments(p)
	rest := len(g) > 0 && g[len(g)-1] == "**"
	if rest {
		g = g[:len(g)-1]
	} else if subtree || len(g) != len(ps) {
		return false
	}
	if len(ps) < len(g) {
		return false
	}
	for i, s := range g {
		if ok, err := path.Match(s, ps[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func segments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
