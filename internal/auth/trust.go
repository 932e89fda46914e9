package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// The trust root's files in an auth directory. Seeds (*.nk) and
// credentials (*.creds) are secrets, mode 0600 in a 0700 directory; the
// JWTs are public.
const (
	OperatorSeedFile = "operator.nk"
	OperatorJWTFile  = "operator.jwt"
	SysSeedFile      = "sys.nk"
	SysJWTFile       = "sys.jwt"
	AccountSeedFile  = "herald.nk"
	AccountJWTFile   = "herald.jwt"
	// SysCredsFile is a user of the system account: for pushing an
	// updated account JWT to an external cluster.
	SysCredsFile        = "sys.creds"
	DispatcherCredsFile = "dispatcher.creds"
	AdminCredsFile      = "admin.creds"
)

// Account names.
const (
	OperatorName = "herald"
	SysAccount   = "SYS"
	Account      = "HERALD"
)

// AccountLimits are the HERALD account's limits, set explicitly: no cap on
// connections, subscriptions and payload beyond the server's own (10,000
// agents are 10,000 connections), JetStream storage bounded by the
// server's own JetStream limits and the streams' max age and size, at most
// 100 streams (Herald's three, its buckets and the KV source's buckets)
// and no cap on consumers (agents hold none; herald tail and status make
// short-lived ones).
func AccountLimits() jwt.OperatorLimits {
	l := jwt.OperatorLimits{}
	l.NatsLimits = jwt.NatsLimits{Subs: jwt.NoLimit, Data: jwt.NoLimit, Payload: jwt.NoLimit}
	l.AccountLimits = jwt.AccountLimits{Imports: jwt.NoLimit, Exports: jwt.NoLimit, WildcardExports: true, Conn: jwt.NoLimit, LeafNodeConn: jwt.NoLimit}
	l.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit, Streams: 100, Consumer: jwt.NoLimit, MaxAckPending: jwt.NoLimit}
	return l
}

// ErrExists is wrapped when Init finds a trust root already there.
var ErrExists = errors.New("auth directory already holds a trust root")

// Dir is an auth directory: the trust root (operator, SYS and HERALD
// accounts with their seeds), the credentials issued from it and the
// registry.
type Dir string

func (d Dir) path(name string) string { return filepath.Join(string(d), name) }

// Init creates the trust root in d: the operator, the SYS and HERALD
// accounts, a SYS user (sys.creds), the dispatcher (dispatcher.creds,
// named "dispatcher") and the admin (admin.creds, named "admin"), and the
// registry. It refuses a directory that already has a trust root or a
// registry. It returns the files it wrote.
func (d Dir) Init(now time.Time) ([]string, error) {
	for _, f := range []string{OperatorSeedFile, OperatorJWTFile, AccountSeedFile, RegistryFile} {
		if _, err := os.Stat(d.path(f)); err == nil {
			return nil, fmt.Errorf("%w: %s exists (refusing to overwrite it)", ErrExists, d.path(f))
		}
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(string(d), 0o700); err != nil {
		return nil, err
	}
	okp, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	skp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	akp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	opub, _ := okp.PublicKey()
	spub, _ := skp.PublicKey()
	apub, _ := akp.PublicKey()

	oc := jwt.NewOperatorClaims(opub)
	oc.Name = OperatorName
	oc.SystemAccount = spub
	ojwt, err := oc.Encode(okp)
	if err != nil {
		return nil, fmt.Errorf("operator jwt: %w", err)
	}
	sc := jwt.NewAccountClaims(spub)
	sc.Name = SysAccount
	sjwt, err := sc.Encode(okp)
	if err != nil {
		return nil, fmt.Errorf("system account jwt: %w", err)
	}
	ac := jwt.NewAccountClaims(apub)
	ac.Name = Account
	ac.Limits = AccountLimits()
	ajwt, err := ac.Encode(okp)
	if err != nil {
		return nil, fmt.Errorf("account jwt: %w", err)
	}
	var wrote []string
	write := func(name string, data []byte, mode os.FileMode) error {
		if err := writeFileAtomic(d.path(name), data, mode); err != nil {
			return err
		}
		wrote = append(wrote, d.path(name))
		return nil
	}
	for _, f := range []struct {
		name string
		kp   nkeys.KeyPair
	}{{OperatorSeedFile, okp}, {SysSeedFile, skp}, {AccountSeedFile, akp}} {
		seed, err := f.kp.Seed()
		if err != nil {
			return nil, err
		}
		if err := write(f.name, append(seed, '\n'), 0o600); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct{ name, jwt string }{{OperatorJWTFile, ojwt}, {SysJWTFile, sjwt}, {AccountJWTFile, ajwt}} {
		if err := write(f.name, []byte(f.jwt+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	sysCreds, _, err := userCreds(skp, "sys", jwt.Permissions{})
	if err != nil {
		return nil, err
	}
	if err := write(SysCredsFile, sysCreds, 0o600); err != nil {
		return nil, err
	}
	reg := &Registry{}
	for _, u := range []struct {
		file string
		role Role
	}{{DispatcherCredsFile, RoleDispatcher}, {AdminCredsFile, RoleAdmin}} {
		id := Identity{Name: string(u.role), Role: u.role, Created: now.UTC()}
		perms, err := PermissionsFor(id)
		if err != nil {
			return nil, err
		}
		creds, pub, err := userCreds(akp, id.Name, perms)
		if err != nil {
			return nil, err
		}
		id.PublicKey = pub
		if err := write(u.file, creds, 0o600); err != nil {
			return nil, err
		}
		reg.Identities = append(reg.Identities, id)
	}
	if err := d.saveRegistry(reg); err != nil {
		return nil, err
	}
	return append(wrote, d.path(RegistryFile)), nil
}

// userCreds makes a user of the account whose key pair is akp, named name
// with perms, and returns its credentials file's content and public key.
func userCreds(akp nkeys.KeyPair, name string, perms jwt.Permissions) ([]byte, string, error) {
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	uc.Permissions = perms
	ujwt, err := uc.Encode(akp)
	if err != nil {
		return nil, "", fmt.Errorf("user jwt %s: %w", name, err)
	}
	seed, err := ukp.Seed()
	if err != nil {
		return nil, "", err
	}
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		return nil, "", err
	}
	return creds, upub, nil
}

// readSeed loads the key pair in the seed file name of d.
func (d Dir) readSeed(name string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(d.path(name))
	if err != nil {
		return nil, fmt.Errorf("%w (run herald auth init --dir %s)", err, string(d))
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.path(name), err)
	}
	return kp, nil
}

// ReadJWT returns the JWT in file name of d (OperatorJWTFile, SysJWTFile,
// AccountJWTFile), trimmed.
func (d Dir) ReadJWT(name string) (string, error) {
	b, err := os.ReadFile(d.path(name))
	if err != nil {
		return "", fmt.Errorf("%w (run herald auth init --dir %s)", err, string(d))
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.path(name), err)
	}
	return strings.TrimSpace(tok), nil
}

// Path returns the path of file name in d.
func (d Dir) Path(name string) string { return d.path(name) }

// writeFileAtomic writes data to path through a temporary file in the same
// directory, fsynced, then renamed over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
