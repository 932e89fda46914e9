package znode

import "testing"

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		globs   []string
		path    string
		subtree bool
		want    bool
	}{
		{DefaultAllow, "/", true, true},
		{DefaultAllow, "/secret/db-password", false, true},
		{[]string{"/app/**"}, "/app", false, true},
		{[]string{"/app/**"}, "/app/config", false, true},
		{[]string{"/app/**"}, "/app/web/**", true, true},
		{[]string{"/app/**"}, "/secret/db-password", false, false},
		{[]string{"/app/**"}, "/", true, false},
		{[]string{"/app/**"}, "/application", false, false},
		{[]string{"/app/*/config"}, "/app/web/config", false, true},
		{[]string{"/app/*/config"}, "/app/web/config", true, false},
		{[]string{"/app/*/config"}, "/app/web/other", false, false},
		{[]string{"/git/head"}, "/git/head", false, true},
		{[]string{"/git/head"}, "/git/head/x", false, false},
		{[]string{"/git/head", "/deploy/**"}, "/deploy/web", false, true},
		{nil, "/git/head", false, false},
	} {
		if got := Allowed(c.globs, c.path, c.subtree); got != c.want {
			t.Errorf("Allowed(%q, %q, subtree %v) = %v, want %v", c.globs, c.path, c.subtree, got, c.want)
		}
	}
}

func TestCheckAllow(t *testing.T) {
	for _, g := range []string{"/**", "/app/**", "/a/*/b", "/x"} {
		if err := CheckAllow(g); err != nil {
			t.Errorf("CheckAllow(%q) = %v", g, err)
		}
	}
	for _, g := range []string{"app/**", "/a/**/b", "/a/[", ""} {
		if err := CheckAllow(g); err == nil {
			t.Errorf("CheckAllow(%q) = nil, want an error", g)
		}
	}
}
