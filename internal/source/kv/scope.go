package kv

import (
	"sort"
	"strings"

	"github.com/heraldhq/herald/events"
)

// scope is what is watched in one bucket: everything, or a set of filters
// (keys and PREFIX.> prefixes) none of which covers another, since a
// JetStream consumer refuses overlapping filters.
type scope struct {
	all  bool
	keys []string // sorted; empty when all
}

// scopes groups targets by bucket.
func scopes(targets []target) map[string]scope {
	byBucket := map[string][]string{}
	all := map[string]bool{}
	for _, t := range targets {
		if t.filter == "" {
			all[t.bucket] = true
		}
		byBucket[t.bucket] = append(byBucket[t.bucket], t.filter)
	}
	out := make(map[string]scope, len(byBucket))
	for b, fs := range byBucket {
		if all[b] {
			out[b] = scope{all: true}
			continue
		}
		out[b] = scope{keys: reduce(fs)}
	}
	return out
}

// reduce sorts filters and drops repeats and filters covered by a prefix.
func reduce(fs []string) []string {
	sort.Strings(fs)
	var out []string
	for i, f := range fs {
		if i > 0 && f == fs[i-1] {
			continue
		}
		covered := false
		for _, g := range fs {
			if g != f && covers(g, f) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, f)
		}
	}
	return out
}

// covers reports whether filter p (a prefix "P.>") selects every key that
// filter f selects.
func covers(p, f string) bool {
	pre, ok := strings.CutSuffix(p, ">")
	if !ok {
		return false
	}
	if fpre, ok := strings.CutSuffix(f, ">"); ok {
		return strings.HasPrefix(fpre, pre)
	}
	return len(f) > len(pre) && strings.HasPrefix(f, pre)
}

// id identifies the scope, to tell whether a watch must restart.
func (s scope) id() string {
	if s.all {
		return ">"
	}
	return strings.Join(s.keys, "\x00")
}

// filters are the KV key filters of the watch; nil means the whole bucket.
func (s scope) filters() []string {
	if s.all {
		return nil
	}
	return append([]string(nil), s.keys...)
}

// describe lists the filters for logs: ">" for the whole bucket.
func (s scope) describe() []string {
	if s.all {
		return []string{">"}
	}
	return s.filters()
}

// match reports whether the KV key is watched.
func (s scope) match(key string) bool {
	if s.all {
		return true
	}
	for _, f := range s.keys {
		if f == key || covers(f, key) {
			return true
		}
	}
	return false
}

// eventFilters are the subject filters of the events published for the
// scope in bucket; match decides for keys under a prefix.
func (s scope) eventFilters(bucket string) []string {
	wide := s.all
	for _, f := range s.keys {
		if strings.HasSuffix(f, ">") {
			wide = true
		}
	}
	var out []string
	for _, typ := range []string{TypePut, TypeDeleted} {
		if wide {
			out = append(out, events.EventPrefix+"."+typ+"."+events.EncodeKey(bucket)+".>")
			continue
		}
		for _, k := range s.keys {
			out = append(out, events.EventSubject(typ, bucket+"/"+k))
		}
	}
	return out
}
