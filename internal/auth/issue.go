package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
)

// Spec is an identity to issue.
type Spec struct {
	Name string
	Role Role // agent, publisher, deployer or viewer
	// Types and Keys: a publisher's grants.
	Types, Keys []string
	// MaySkipHooks: a deployer's or publisher's skip_hooks right.
	MaySkipHooks bool
	// MayWait: a publisher's right to read what herald publish --wait
	// reads.
	MayWait bool
	// HTTPToken: issue an HTTP bearer token too.
	HTTPToken bool
}

// Issued is what Add wrote.
type Issued struct {
	Identity Identity
	// Creds is the credentials file; TokenFile the HTTP token's file and
	// Token the token itself (empty without Spec.HTTPToken): shown once.
	Creds, TokenFile, Token string
}

// ErrDuplicate is wrapped when a name is already issued.
var ErrDuplicate = errors.New("identity already exists")

// KindDir is the subdirectory of an auth directory holding role r's
// credentials (agents, publishers, deployers, viewers).
func KindDir(r Role) string { return string(r) + "s" }

// Add issues an identity: a user of the HERALD account signed with the
// account's seed, with its role's permissions, written to
// DIR/<kind>/NAME.creds (0600), plus the HTTP token in NAME.token (0600)
// when asked; the registry keeps only the token's hash.
func (d Dir) Add(s Spec, now time.Time) (Issued, error) {
	if err := ValidateName(s.Name); err != nil {
		return Issued{}, err
	}
	switch s.Role {
	case RoleAgent, RolePublisher, RoleDeployer, RoleViewer:
	default:
		return Issued{}, fmt.Errorf("cannot add an identity of role %q", s.Role)
	}
	reg, err := LoadRegistry(string(d))
	if err != nil {
		return Issued{}, err
	}
	if old, ok := reg.Lookup(s.Name); ok {
		return Issued{}, fmt.Errorf("%w: %q (a %s; names are never reused, even revoked)", ErrDuplicate, s.Name, old.Role)
	}
	id := Identity{Name: s.Name, Role: s.Role, Types: s.Types, Keys: s.Keys, MaySkipHooks: s.MaySkipHooks, MayWait: s.MayWait, Created: now.UTC()}
	perms, err := PermissionsFor(id)
	if err != nil {
		return Issued{}, err
	}
	akp, err := d.readSeed(AccountSeedFile)
	if err != nil {
		return Issued{}, err
	}
	creds, pub, err := userCreds(akp, s.Name, perms)
	if err != nil {
		return Issued{}, err
	}
	id.PublicKey = pub
	kind := d.path(KindDir(s.Role))
	if err := os.MkdirAll(kind, 0o700); err != nil {
		return Issued{}, err
	}
	out := Issued{Creds: filepath.Join(kind, s.Name+".creds")}
	if s.HTTPToken {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return Issued{}, err
		}
		out.Token = "hrld_" + base64.RawURLEncoding.EncodeToString(b)
		out.TokenFile = filepath.Join(kind, s.Name+".token")
		id.TokenSHA256 = TokenHash(out.Token)
		if err := writeFileAtomic(out.TokenFile, []byte(out.Token+"\n"), 0o600); err != nil {
			return Issued{}, err
		}
	}
	if err := writeFileAtomic(out.Creds, creds, 0o600); err != nil {
		return Issued{}, err
	}
	reg.Identities = append(reg.Identities, id)
	if err := d.saveRegistry(reg); err != nil {
		return Issued{}, err
	}
	out.Identity = id
	return out, nil
}

// ErrUnknown is wrapped when a name is not in the registry.
var ErrUnknown = errors.New("no such identity")

// Revoke marks name revoked in the registry and adds its public key to the
// HERALD account JWT's revocations, re-signed with the operator's seed. It
// returns the new account JWT (for a cluster to be sent). A server that
// takes the new account JWT disconnects the identity and refuses it from
// then on.
func (d Dir) Revoke(name string, now time.Time) (string, error) {
	reg, err := LoadRegistry(string(d))
	if err != nil {
		return "", err
	}
	i := -1
	for j, id := range reg.Identities {
		if id.Name == name {
			i = j
		}
	}
	if i < 0 {
		return "", fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	id := reg.Identities[i]
	if !id.Active() {
		return "", fmt.Errorf("%q is already revoked (since %s)", name, id.Revoked.Format(time.RFC3339))
	}
	okp, err := d.readSeed(OperatorSeedFile)
	if err != nil {
		return "", err
	}
	tok, err := d.ReadJWT(AccountJWTFile)
	if err != nil {
		return "", err
	}
	ac, err := jwt.DecodeAccountClaims(tok)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.path(AccountJWTFile), err)
	}
	// Every JWT of this key issued up to now is revoked: the identity's.
	ac.RevokeAt(id.PublicKey, now.Add(time.Second))
	njwt, err := ac.Encode(okp)
	if err != nil {
		return "", fmt.Errorf("account jwt: %w", err)
	}
	if err := writeFileAtomic(d.path(AccountJWTFile), []byte(njwt+"\n"), 0o644); err != nil {
		return "", err
	}
	reg.Identities[i].Revoked = now.UTC()
	if err := d.saveRegistry(reg); err != nil {
		return "", err
	}
	return njwt, nil
}

// saveRegistry writes reg to DIR/identities.json atomically (0600: it
// holds no secret, but token hashes and rights are nobody else's business).
func (d Dir) saveRegistry(reg *Registry) error {
	b, err := json.MarshalIndent(reg, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(d.path(RegistryFile), append(b, '\n'), 0o600)
}
