// Package znode holds the values the ZooKeeper source's watcher builds its
// state from, with no I/O: the heraldversion of a znode's events (built
// from ZooKeeper's zxids, written, parsed and ordered as ZooKeeper orders
// changes) and the watched roots (exact paths and subtrees) with the path
// arithmetic they need. It knows nothing of connections, NATS, the events
// stream or the watcher's state.
package znode

import (
	"sort"
	"strings"
)

// Roots are the watched roots: exact paths, and subtree roots ("PATH/**"
// watches PATH and every znode under it).
type Roots struct {
	Exact map[string]bool
	Sub   map[string]bool // by the root's path, without "/**"
}

// NewRoots returns an empty set of roots.
func NewRoots() Roots { return Roots{Exact: map[string]bool{}, Sub: map[string]bool{}} }

// Add adds the root at path; subtree for "PATH/**".
func (r Roots) Add(path string, subtree bool) {
	if subtree {
		r.Sub[path] = true
	} else {
		r.Exact[path] = true
	}
}

// InSubtree reports whether a subtree root covers key (itself included).
func (r Roots) InSubtree(key string) bool {
	for p, ok := key, true; ok; p, ok = Parent(p) {
		if r.Sub[p] {
			return true
		}
	}
	return false
}

// List returns the roots sorted, as selectors write them: "/a" and "/b/**".
func (r Roots) List() []string {
	var out []string
	for p := range r.Exact {
		out = append(out, p)
	}
	for p := range r.Sub {
		out = append(out, strings.TrimSuffix(p, "/")+"/**")
	}
	sort.Strings(out)
	return out
}

// Parent is the parent of a znode path; false for "/".
func Parent(key string) (string, bool) {
	if key == "/" {
		return "", false
	}
	i := strings.LastIndexByte(key, '/')
	if i <= 0 {
		return "/", true
	}
	return key[:i], true
}

// Child is the path of the child name of key.
func Child(key, name string) string {
	if key == "/" {
		return "/" + name
	}
	return key + "/" + name
}
