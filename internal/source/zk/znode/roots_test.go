package znode

import (
	"fmt"
	"testing"
)

func TestRoots_InSubtreeAndList(t *testing.T) {
	r := NewRoots()
	r.Add("/a", false)
	r.Add("/b", true)
	r.Add("/", false)
	if got := fmt.Sprint(r.List()); got != "[/ /a /b/**]" {
		t.Errorf("List() = %s", got)
	}
	for key, want := range map[string]bool{"/b": true, "/b/c/d": true, "/a": false, "/bc": false, "/": false} {
		if got := r.InSubtree(key); got != want {
			t.Errorf("InSubtree(%q) = %v, want %v", key, got, want)
		}
	}
	all := NewRoots()
	all.Add("/", true)
	if !all.InSubtree("/x/y") || fmt.Sprint(all.List()) != "[/**]" {
		t.Errorf("/** covers nothing or lists as %v", all.List())
	}
}

func TestParentChild(t *testing.T) {
	for _, c := range []struct{ parent, name, child string }{{"/", "a", "/a"}, {"/a", "b", "/a/b"}, {"/a/b", "c", "/a/b/c"}} {
		if got := Child(c.parent, c.name); got != c.child {
			t.Errorf("Child(%q, %q) = %q", c.parent, c.name, got)
		}
		if got, ok := Parent(c.child); !ok || got != c.parent {
			t.Errorf("Parent(%q) = %q, %v", c.child, got, ok)
		}
	}
	if _, ok := Parent("/"); ok {
		t.Error("/ has a parent")
	}
}
