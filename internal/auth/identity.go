package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
)

// Role is what an identity is for.
type Role string

// Roles.
const (
	// RoleDispatcher: stream admin, the sources, the engines; the only one
	// that may answer pre requests and send call-hook requests.
	RoleDispatcher Role = "dispatcher"
	// RoleAdmin: everything (herald auth, repairs).
	RoleAdmin Role = "admin"
	// RoleAgent: one host's agent.
	RoleAgent Role = "agent"
	// RolePublisher: publishes events of its granted types and keys (CI);
	// with MaySkipHooks it is also a caller that may skip hooks.
	RolePublisher Role = "publisher"
	// RoleDeployer: herald call and herald op: pre requests, call.post and
	// call.err, op.* events; skip_hooks only with MaySkipHooks.
	RoleDeployer Role = "deployer"
	// RoleViewer: reads streams and buckets (herald status, herald tail).
	RoleViewer Role = "viewer"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	switch r {
	case RoleDispatcher, RoleAdmin, RoleAgent, RolePublisher, RoleDeployer, RoleViewer:
		return true
	}
	return false
}

// ReservedTypes are the event type globs only the sources and the
// dispatchers (and, for call.post, call.err, op.* and rollout.*,
// deployers) publish: a publisher can never be granted them.
var ReservedTypes = []string{"zk.*", "kv.*", "call.*", "op.*", "rollout.*"}

// ReservedTypePrefixes are the first type tokens of ReservedTypes.
var ReservedTypePrefixes = []string{"zk", "kv", "call", "op", "rollout"}

// IsReservedType reports whether an event type (or a type glob) falls
// under ReservedTypes.
func IsReservedType(typ string) bool {
	first, _, _ := strings.Cut(typ, ".")
	if first == "*" || first == ">" || strings.ContainsAny(first, "*?[") {
		// A glob whose first token is a wildcard covers the reserved ones.
		return true
	}
	for _, p := range ReservedTypePrefixes {
		if first == p {
			return true
		}
	}
	return false
}

// ReservedSourcePrefixes are the CloudEvents sources of Herald's own
// producers (the ZooKeeper and KV sources, herald call and the
// dispatchers): an event from anyone else may not claim them. The KV
// source's events say nats-kv://BUCKET.
var ReservedSourcePrefixes = []string{"zk:", "kv:", "nats-kv:", "herald:"}

// IsReservedSource reports whether src claims to be one of Herald's own
// producers.
func IsReservedSource(src string) bool {
	s := strings.ToLower(strings.TrimSpace(src))
	for _, p := range ReservedSourcePrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ErrInvalidName wraps a name ValidateName refuses.
var ErrInvalidName = errors.New("invalid identity name")

// ValidateName checks an identity name: letters, digits, '_' and '-',
// starting with a letter or digit, at most 128 bytes. A name is one NATS
// subject token as it is (herald.outcome.NAME.>, herald.agent.NAME,
// _INBOX_NAME.>), so it needs no encoding and cannot hold a wildcard.
func ValidateName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("%w %q: want letters, digits, '_' or '-', starting with a letter or digit, at most 128 bytes", ErrInvalidName, name)
	}
	return nil
}

// Identity is one issued identity as the registry keeps it. It holds no
// secret: the NATS credentials are in NAME.creds, the HTTP token only as a
// hash.
type Identity struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// PublicKey is the identity's nkey user public key (U...).
	PublicKey string `json:"public_key,omitempty"`
	// Types and Keys are the event type and key globs a publisher may
	// publish (Keys empty: every key).
	Types []string `json:"types,omitempty"`
	Keys  []string `json:"keys,omitempty"`
	// MaySkipHooks lets a deployer ask for skip_hooks. A publisher with it
	// is also a caller (herald call: pre and skip requests, call.post,
	// call.err and call.confirm; HTTP calls) that may skip hooks, besides
	// publishing its types.
	MaySkipHooks bool `json:"may_skip_hooks,omitempty"`
	// MayWait lets a publisher read what herald publish --wait reads (the
	// announcements, the outcomes and the rollouts bucket, WaitStreams);
	// without it a publisher reads nothing.
	MayWait bool `json:"may_wait,omitempty"`
	// TokenSHA256 is the hex SHA-256 of the identity's HTTP bearer token;
	// empty: no HTTP access.
	TokenSHA256 string    `json:"token_sha256,omitempty"`
	Created     time.Time `json:"created"`
	// Revoked is when the identity was revoked; zero: it is not.
	Revoked time.Time `json:"revoked,omitzero"`
}

// Active reports whether the identity has not been revoked.
func (id Identity) Active() bool { return id.Revoked.IsZero() }

// MayPublish reports whether the identity may publish an event of typ
// under key. Dispatchers and the admin may publish anything; deployers
// call.post, call.err and op.*; publishers their granted types and keys
// outside ReservedTypes (and call.post and call.err when MayCall); agents
// and viewers nothing.
func (id Identity) MayPublish(typ, key string) bool {
	if !id.Active() {
		return false
	}
	switch id.Role {
	case RoleDispatcher, RoleAdmin:
		return true
	case RoleDeployer:
		if typ == "call.post" || typ == "call.err" || strings.HasPrefix(typ, "op.") {
			return true
		}
	case RolePublisher:
		if id.MaySkipHooks && (typ == "call.post" || typ == "call.err") {
			return true
		}
	default:
		return false
	}
	if IsReservedType(typ) {
		return false
	}
	return matchAny(id.Types, typ, matchType) && (len(id.Keys) == 0 || matchAny(id.Keys, key, matchKey))
}

// MayReserved reports whether the identity may publish events of reserved
// types or with reserved sources (the sources' and dispatchers' own).
func (id Identity) MayReserved() bool {
	return id.Active() && (id.Role == RoleDispatcher || id.Role == RoleAdmin)
}

// MayRead reports whether the identity may read the streams and buckets
// (status, tail, outcomes).
func (id Identity) MayRead() bool {
	if !id.Active() {
		return false
	}
	switch id.Role {
	case RoleViewer, RoleDispatcher, RoleAdmin:
		return true
	}
	return false
}

// MayCall reports whether the identity may make scheduler calls (pre
// requests, post and err): deployers, the admin, dispatchers, and
// publishers granted the right to skip hooks (a right to skip is a right
// to call).
func (id Identity) MayCall() bool {
	if !id.Active() {
		return false
	}
	switch id.Role {
	case RoleDeployer, RoleAdmin, RoleDispatcher:
		return true
	case RolePublisher:
		return id.MaySkipHooks
	}
	return false
}

// MaySkip reports whether the identity may ask a call to skip hooks.
func (id Identity) MaySkip() bool {
	return id.MayCall() && (id.MaySkipHooks || id.Role == RoleAdmin)
}

func matchAny(globs []string, s string, match func(glob, s string) bool) bool {
	for _, g := range globs {
		if match(g, s) {
			return true
		}
	}
	return false
}

// matchType matches a type glob token by token: '*' one token, '>' the
// rest (as NATS does), anything else literally.
func matchType(glob, typ string) bool {
	g, t := strings.Split(glob, "."), strings.Split(typ, ".")
	for i, tok := range g {
		if tok == ">" {
			return len(t) > i
		}
		if i >= len(t) || (tok != "*" && tok != t[i]) {
			return false
		}
	}
	return len(g) == len(t)
}

func matchKey(glob, key string) bool {
	g, err := events.ParseKeyGlob(glob)
	return err == nil && g.Match(key)
}

// TokenHash is the hex SHA-256 of an HTTP bearer token, as the registry
// keeps it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RegistryFile is the registry's file in an auth directory.
const RegistryFile = "identities.json"

// Registry is the set of identities issued from one auth directory.
type Registry struct {
	Identities []Identity `json:"identities"`
}

// ErrNoRegistry is wrapped when an auth directory has no registry (herald
// auth init was not run there).
var ErrNoRegistry = errors.New("no identities registry")

// LoadRegistry reads DIR/identities.json.
func LoadRegistry(dir string) (*Registry, error) {
	path := filepath.Join(dir, RegistryFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (run herald auth init --dir %s)", ErrNoRegistry, dir, dir)
	}
	if err != nil {
		return nil, err
	}
	var r Registry
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Lookup returns the identity called name.
func (r *Registry) Lookup(name string) (Identity, bool) {
	for _, id := range r.Identities {
		if id.Name == name {
			return id, true
		}
	}
	return Identity{}, false
}

// ByToken returns the active identity whose HTTP token is token. Every
// stored hash is compared in constant time.
func (r *Registry) ByToken(token string) (Identity, bool) {
	if token == "" {
		return Identity{}, false
	}
	h := []byte(TokenHash(token))
	var found Identity
	ok := false
	for _, id := range r.Identities {
		if id.TokenSHA256 != "" && subtle.ConstantTimeCompare(h, []byte(id.TokenSHA256)) == 1 && id.Active() {
			found, ok = id, true
		}
	}
	return found, ok
}
