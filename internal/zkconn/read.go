package zkconn

// Reads: what a znode holds, with or without setting ZooKeeper's one-shot
// watch. Several may run at once on one connection: the client pipelines
// them.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
)

// Read is what one read of a znode found.
type Read struct {
	Exists   bool
	Armed    bool // the read set a watch
	Stat     zk.Stat
	Data     []byte
	Children []string // sorted
}

// ReadChildren lists the children of zpath, setting a children watch when
// watch is true. A missing znode is not an error: Exists is false.
func ReadChildren(conn *zk.Conn, zpath string, watch bool) (Read, error) {
	var ch []string
	var st *zk.Stat
	var err error
	if watch {
		ch, st, _, err = conn.ChildrenW(zpath)
	} else {
		ch, st, err = conn.Children(zpath)
	}
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return Read{}, nil
	case err != nil:
		return Read{}, err
	}
	slices.Sort(ch)
	return Read{Exists: true, Armed: watch, Stat: *st, Children: ch}, nil
}

// ReadData reads the content and stat of zpath, setting a data watch when
// watch is true. When the znode is missing and existsWatch is true too,
// an exists watch is set for its creation (Armed). A missing znode is not
// an error: Exists is false.
func ReadData(conn *zk.Conn, zpath string, watch, existsWatch bool) (Read, error) {
	// The znode may be created between GetW failing and ExistsW: then
	// ExistsW has set a data watch and GetW reads what was created.
	for range 5 {
		var data []byte
		var st *zk.Stat
		var err error
		if watch {
			data, st, _, err = conn.GetW(zpath)
		} else {
			data, st, err = conn.Get(zpath)
		}
		if err == nil {
			return Read{Exists: true, Armed: watch, Stat: *st, Data: data}, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return Read{}, err
		}
		if !watch || !existsWatch {
			return Read{}, nil // missing
		}
		ok, _, _, err := conn.ExistsW(zpath)
		if err != nil {
			return Read{}, err
		}
		if !ok {
			return Read{Armed: true}, nil // watching for the creation
		}
	}
	return Read{}, fmt.Errorf("zk: %s kept appearing and vanishing", zpath)
}

// ConnErr reports errors that a new connection or session resolves: the
// read is worth issuing again once the session is back.
func ConnErr(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrSessionMoved)
}
