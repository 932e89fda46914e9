package watch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/events"
)

// Source kinds a watch can select.
const (
	KindEvent = "event"
	KindZK    = "zk"
	KindKV    = "kv"
)

// Selector is the parsed "on:" of a watch (with its "key:" glob).
type Selector struct {
	Kind string
	// Type is the event type for KindEvent.
	Type string
	// Glob selects keys. For zk it is the path (with "/**" for a subtree);
	// for kv it is "BUCKET/KEY".
	Glob events.KeyGlob
	// Path is the znode path for KindZK, without "/**".
	Path string
	// Subtree is true for zk:/path/**.
	Subtree bool
	// Bucket and KVKey for KindKV; KVKey may end in ".>" for a prefix.
	Bucket, KVKey string
	// Only is the watch's types: list (WithTypes); nil: the kind's
	// default, see Types.
	Only []string
}

// Event types of the zk and kv sources, as watches name them in types:.
var (
	zkTypes = []string{"zk.created", "zk.changed", "zk.deleted", "zk.children"}
	kvTypes = []string{"kv.put", "kv.deleted"}
)

// ParseSelector parses on and key: "event:<type>" (key is a glob, default
// "**"), "zk:/path", "zk:/path/**", "kv:BUCKET/KEY", "kv:BUCKET/PREFIX.>".
func ParseSelector(on, key string) (Selector, error) {
	kind, rest, ok := strings.Cut(on, ":")
	if !ok || rest == "" {
		return Selector{}, fmt.Errorf("want event:<type>, zk:/path or kv:BUCKET/KEY, got %q", on)
	}
	switch kind {
	case KindEvent:
		if err := events.ValidateType(rest); err != nil {
			return Selector{}, err
		}
		if key == "" {
			key = "**"
		}
		g, err := events.ParseKeyGlob(key)
		if err != nil {
			return Selector{}, fmt.Errorf("key: %w", err)
		}
		return Selector{Kind: KindEvent, Type: rest, Glob: g}, nil
	case KindZK:
		if key != "" {
			return Selector{}, fmt.Errorf("key: not allowed with zk: (the path is the key)")
		}
		if !strings.HasPrefix(rest, "/") {
			return Selector{}, fmt.Errorf("zk path %q must start with /", rest)
		}
		p, sub := strings.CutSuffix(rest, "/**")
		if p == "" {
			p = "/"
		}
		if strings.ContainsAny(p, "*?[") || strings.Contains(p, "//") || (len(p) > 1 && strings.HasSuffix(p, "/")) {
			return Selector{}, fmt.Errorf("zk path %q: want /a/b or /a/b/**", rest)
		}
		glob := p
		if sub {
			glob = strings.TrimSuffix(p, "/") + "/**"
		}
		g, err := events.ParseKeyGlob(glob)
		if err != nil {
			return Selector{}, err
		}
		return Selector{Kind: KindZK, Path: p, Subtree: sub, Glob: g}, nil
	case KindKV:
		if key != "" {
			return Selector{}, fmt.Errorf("key: not allowed with kv: (BUCKET/KEY is the key)")
		}
		bucket, k, ok := strings.Cut(rest, "/")
		if !ok || bucket == "" || k == "" {
			return Selector{}, fmt.Errorf("kv selector %q: want kv:BUCKET/KEY", on)
		}
		if !validBucket(bucket) {
			return Selector{}, fmt.Errorf("kv bucket %q: letters, digits, '-' and '_' only", bucket)
		}
		if !validKVKey(k) {
			return Selector{}, fmt.Errorf("kv key %q: letters, digits and -/_=. only, optionally ending in .>", k)
		}
		g, err := events.ParseKeyGlob(bucket + "/" + strings.ReplaceAll(strings.TrimSuffix(k, ">"), "*", "?"))
		if err != nil {
			return Selector{}, err
		}
		return Selector{Kind: KindKV, Bucket: bucket, KVKey: k, Glob: g}, nil
	}
	return Selector{}, fmt.Errorf("unknown source %q: want event, zk or kv", kind)
}

// SummarySelector is the selector of an announced watch (its on:, key:
// and types:), so that what the fleet announced is matched against an
// event with the agent's own Match.
func SummarySelector(w events.WatchSummary) (Selector, error) {
	sel, err := ParseSelector(w.On, w.Key)
	if err != nil || len(w.Types) == 0 {
		return sel, err
	}
	return sel.WithTypes(w.Types)
}

func validBucket(s string) bool {
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func validKVKey(s string) bool {
	body, _ := strings.CutSuffix(s, ".>")
	if body == "" || strings.HasPrefix(body, ".") || strings.HasSuffix(body, ".") {
		return false
	}
	for _, c := range body {
		if !(c == '-' || c == '_' || c == '=' || c == '/' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Types returns the event types the selector receives: its types: list,
// or by default for an exact zk:/path the node's own zk.created,
// zk.changed and zk.deleted (not zk.children: Twitcher watched a node's
// data), for a zk subtree all four, for kv: both kv types, and for
// event:TYPE that type.
func (s Selector) Types() []string {
	if s.Only != nil {
		return s.Only
	}
	switch s.Kind {
	case KindZK:
		if !s.Subtree {
			return zkTypes[:3]
		}
		return zkTypes
	case KindKV:
		return kvTypes
	}
	return []string{s.Type}
}

// WithTypes returns s receiving only types (a watch's types: list). The
// list must be non-empty, without repeats, and hold only types of the
// selector's source: zk.* for zk:, kv.* for kv:. An event:TYPE selector
// takes no list: its one type is in on:.
func (s Selector) WithTypes(types []string) (Selector, error) {
	var allowed []string
	switch s.Kind {
	case KindZK:
		allowed = zkTypes
	case KindKV:
		allowed = kvTypes
	default:
		return s, fmt.Errorf("not allowed with event: (on: event:TYPE names the one type it receives)")
	}
	if len(types) == 0 {
		return s, fmt.Errorf("want at least one of %s", strings.Join(allowed, ", "))
	}
	seen := map[string]bool{}
	for _, t := range types {
		if !slices.Contains(allowed, t) {
			return s, fmt.Errorf("%q is not a type of %s: want %s", t, s.Kind+":", strings.Join(allowed, ", "))
		}
		if seen[t] {
			return s, fmt.Errorf("%q given twice", t)
		}
		seen[t] = true
	}
	s.Only = slices.Clone(types)
	return s, nil
}

// Filters returns the NATS subject filters that cover every event the
// selector matches. Match makes the final decision.
func (s Selector) Filters() []string {
	var out []string
	for _, t := range s.Types() {
		switch {
		case s.Kind == KindZK && s.Subtree:
			// The root itself and everything under it.
			out = append(out, events.EventSubject(t, s.Path), s.Glob.SubjectFilter(t))
		case s.Kind == KindKV && strings.HasSuffix(s.KVKey, ".>"):
			out = append(out, events.EventPrefix+"."+t+"."+events.EncodeKey(s.Bucket)+".>")
		default:
			out = append(out, s.Glob.SubjectFilter(t))
		}
	}
	return out
}

// Match reports whether an event of typ for key is selected.
func (s Selector) Match(typ, key string) bool {
	switch s.Kind {
	case KindEvent:
		return typ == s.Type && s.Glob.Match(key)
	case KindZK:
		if !slices.Contains(s.Types(), typ) {
			return false
		}
		return key == s.Path || (s.Subtree && s.Glob.Match(key))
	case KindKV:
		if !slices.Contains(s.Types(), typ) {
			return false
		}
		bucket, k, ok := strings.Cut(key, "/")
		if !ok || bucket != s.Bucket {
			return false
		}
		if p, ok := strings.CutSuffix(s.KVKey, ">"); ok {
			return strings.HasPrefix(k, p) && len(k) > len(p)
		}
		return k == s.KVKey
	}
	return false
}
