// Package zkconn is the client side of a ZooKeeper ensemble for the
// dispatcher's ZooKeeper source, as natsconn is for NATS: the connection
// settings (servers, chroot, digest auth, session timeout) and their
// validation, the chroot's mapping between the paths agents see and the
// paths in ZooKeeper, connecting, adding the credential until it is
// accepted, an inbox that takes the client's events without ever
// blocking its receive loop, and the reads that set ZooKeeper's one-shot
// watches. It knows nothing about events, NATS, selectors' meaning or
// what the source does with what it reads; it borrows only the znode path
// syntax from package watch.
package zkconn

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/watch"
)

// Config is the connection part of the ZooKeeper source's settings
// (dispatcher flags --zk, --zk-chroot, --zk-auth, --zk-session-timeout;
// config keys under zk:).
type Config struct {
	// Servers is HOST:PORT[,HOST:PORT...]; empty disables the source.
	Servers string `yaml:"servers"`
	// Chroot is prefixed to every path.
	Chroot string `yaml:"chroot"`
	// Auth is digest:USER:PASS.
	Auth string `yaml:"auth"`
	// SessionTimeout is the ZooKeeper session timeout.
	SessionTimeout time.Duration `yaml:"session_timeout"`
}

// DefaultSessionTimeout is used when SessionTimeout is zero.
const DefaultSessionTimeout = 10 * time.Second

// MinSessionTimeout is the shortest SessionTimeout accepted.
const MinSessionTimeout = 100 * time.Millisecond

// Validate names the first bad field, as its key under zk: ("zk.servers").
func (c Config) Validate() error {
	for _, s := range strings.Split(c.Servers, ",") {
		if err := checkServer(strings.TrimSpace(s)); err != nil {
			return fmt.Errorf("zk.servers: %w", err)
		}
	}
	if c.Chroot != "" && c.Chroot != "/" {
		if _, err := watch.ParseSelector("zk:"+c.Chroot, ""); err != nil || strings.HasSuffix(c.Chroot, "/**") {
			return fmt.Errorf("zk.chroot: %q: want an absolute znode path such as /herald", c.Chroot)
		}
	}
	if c.Auth != "" {
		if _, _, err := c.Digest(); err != nil {
			return fmt.Errorf("zk.auth: %w", err)
		}
	}
	if c.SessionTimeout < 0 || (c.SessionTimeout > 0 && c.SessionTimeout < MinSessionTimeout) {
		return fmt.Errorf("zk.session_timeout: %v: want 0 (default %v) or at least %v", c.SessionTimeout, DefaultSessionTimeout, MinSessionTimeout)
	}
	return nil
}

func checkServer(s string) error {
	if s == "" {
		return fmt.Errorf("empty entry: want HOST:PORT[,HOST:PORT...]")
	}
	if !strings.Contains(s, ":") {
		return nil // the default port, 2181
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT: %w", s, err)
	}
	if host == "" {
		return fmt.Errorf("%q: empty host", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port must be a number from 1 to 65535", s)
	}
	return nil
}

// Digest splits Auth ("digest:USER:PASS") into the scheme's credential.
// The error never repeats the password.
func (c Config) Digest() (scheme, cred string, err error) {
	scheme, cred, ok := strings.Cut(c.Auth, ":")
	if !ok || scheme != "digest" {
		return "", "", fmt.Errorf("want digest:USER:PASS")
	}
	user, _, ok := strings.Cut(cred, ":")
	if !ok || user == "" {
		return "", "", fmt.Errorf("want digest:USER:PASS (user is empty or the password missing)")
	}
	return scheme, cred, nil
}

// ServerList lists the ensemble for the client.
func (c Config) ServerList() []string {
	var out []string
	for _, s := range strings.Split(c.Servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Root is the chroot without a trailing slash ("" for none).
func (c Config) Root() string { return strings.TrimSuffix(c.Chroot, "/") }

// Timeout is the session timeout, DefaultSessionTimeout when unset.
func (c Config) Timeout() time.Duration {
	if c.SessionTimeout == 0 {
		return DefaultSessionTimeout
	}
	return c.SessionTimeout
}

// ZPath maps a path as agents see it to the path in ZooKeeper.
func (c Config) ZPath(key string) string {
	root := c.Root()
	if root == "" {
		return key
	}
	if key == "/" {
		return root
	}
	return root + key
}

// Key maps a ZooKeeper path back to the agents' path; false when it is
// outside the chroot.
func (c Config) Key(zpath string) (string, bool) {
	root := c.Root()
	if root == "" {
		return zpath, zpath != ""
	}
	if zpath == root {
		return "/", true
	}
	rest, ok := strings.CutPrefix(zpath, root)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return rest, true
}
