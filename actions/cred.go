package actions

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// identity is what a run switches to: the credential for the child and the
// user's environment (HOME, USER, LOGNAME) when a user was given.
type identity struct {
	cred *syscall.Credential
	env  []string
}

// IdentityError is a user or group that does not resolve on this host.
type IdentityError struct {
	// Field is "user" or "group".
	Field string
	Err   error
}

func (e *IdentityError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *IdentityError) Unwrap() error { return e.Err }

// CheckIdentity looks up userName and groupName as a run does, so that a
// config naming a user or group this host lacks is refused when it is
// loaded rather than when an event arrives. The error is an
// *IdentityError naming the field.
func CheckIdentity(userName, groupName string) error {
	_, err := resolveIdentity(userName, groupName)
	return err
}

// IdentityField is CheckIdentity for a config check that names the field
// at fault: "" and nil when userName and groupName are empty or exist;
// otherwise "user" or "group" and why.
func IdentityField(userName, groupName string) (field string, err error) {
	if userName == "" && groupName == "" {
		return "", nil
	}
	if err = CheckIdentity(userName, groupName); err == nil {
		return "", nil
	}
	var ie *IdentityError
	if errors.As(err, &ie) {
		return ie.Field, ie.Err
	}
	return "user", err
}

// resolveIdentity looks up userName and groupName (names or numeric ids;
// names are tried first, as chown does). Empty means unchanged; both empty
// returns a nil credential.
//
// With a user, the child gets the user's uid, the group's gid (or the
// user's primary gid) and the user's supplementary groups (or just the gid
// when they cannot be listed). With only a group, only the gid changes: the
// uid stays the agent's and the supplementary groups are left as they are.
//
// Go applies syscall.Credential in the forked child in the order
// setgroups, setgid, setuid (syscall/exec_linux.go, forkAndExecInChild1),
// so the groups are dropped while the process still has the privilege to
// drop them, and the uid changes last.
func resolveIdentity(userName, groupName string) (identity, error) {
	if userName == "" && groupName == "" {
		return identity{}, nil
	}
	var (
		gid    uint32
		hasGID bool
	)
	if groupName != "" {
		g, err := lookupGroup(groupName)
		if err != nil {
			return identity{}, &IdentityError{Field: "group", Err: err}
		}
		gid, hasGID = g, true
	}
	if userName == "" {
		return identity{cred: &syscall.Credential{
			Uid:         uint32(os.Getuid()),
			Gid:         gid,
			NoSetGroups: true,
		}}, nil
	}
	u, uid, err := lookupUser(userName)
	if err != nil {
		return identity{}, &IdentityError{Field: "user", Err: err}
	}
	if u == nil {
		// A numeric id with no entry in the user database.
		if !hasGID {
			return identity{}, &IdentityError{Field: "user", Err: fmt.Errorf("id %d has no entry in the user database: set group too", uid)}
		}
		return identity{cred: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{gid}}}, nil
	}
	if !hasGID {
		g, err := parseID(u.Gid)
		if err != nil {
			return identity{}, &IdentityError{Field: "user", Err: fmt.Errorf("%q has primary group id %q: %w", userName, u.Gid, err)}
		}
		gid = g
	}
	groups := []uint32{gid}
	if ids, err := u.GroupIds(); err == nil && len(ids) > 0 {
		groups = groups[:0]
		for _, s := range ids {
			if g, err := parseID(s); err == nil {
				groups = append(groups, g)
			}
		}
	}
	return identity{
		cred: &syscall.Credential{Uid: uid, Gid: gid, Groups: groups},
		env:  []string{"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username},
	}, nil
}

// lookupUser returns the user entry and uid for a name or a numeric id. A
// numeric id with no entry returns a nil *user.User and the id.
func lookupUser(s string) (*user.User, uint32, error) {
	u, err := user.Lookup(s)
	if err == nil {
		uid, err := parseID(u.Uid)
		return u, uid, err
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return nil, 0, fmt.Errorf("look up %q: %w", s, err)
	}
	id, perr := parseID(s)
	if perr != nil {
		return nil, 0, fmt.Errorf("unknown user %q", s)
	}
	u, err = user.LookupId(s)
	if err == nil {
		return u, id, nil
	}
	var unknownID user.UnknownUserIdError
	if errors.As(err, &unknownID) {
		return nil, id, nil
	}
	return nil, 0, fmt.Errorf("look up id %q: %w", s, err)
}

// lookupGroup returns the gid for a group name or numeric id. A numeric id
// with no entry in the group database is accepted as is.
func lookupGroup(s string) (uint32, error) {
	g, err := user.LookupGroup(s)
	if err == nil {
		return parseID(g.Gid)
	}
	var unknown user.UnknownGroupError
	if !errors.As(err, &unknown) {
		return 0, fmt.Errorf("look up %q: %w", s, err)
	}
	id, perr := parseID(s)
	if perr != nil {
		return 0, fmt.Errorf("unknown group %q", s)
	}
	return id, nil
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("not a numeric id: %q", s)
	}
	return uint32(n), nil
}
