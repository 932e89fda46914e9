package zk

import (
	"fmt"
	"strconv"
	"strings"
)

// version is the parsed heraldversion of a zk event. It is built only from
// what ZooKeeper says about the znode (and, for a deletion, from the last
// version stored in the events stream), so every dispatcher watching the
// same ensemble computes the same string for the same change and the
// stream's dedup window keeps one copy:
//
//	zk.created, zk.changed  m<mzxid>.v<data version>.c<czxid>   m0x1f.v3.c0x1a
//	zk.deleted              d<mzxid of the last stored version>  d0x1f
//	zk.children             p<pzxid>                             p0x20
//
// zxids are written in hex with 0x, as zkCli's stat prints them. A repair
// (see watcher.reconcile) appends ".r<stream sequence>".
type version struct {
	kind   byte // 'm' (data), 'd' (deleted), 'p' (children); 0 when unparsable
	mzxid  int64
	czxid  int64
	pzxid  int64
	dver   int32
	repair uint64
}

func dataVersion(mzxid, czxid int64, dver int32) version {
	return version{kind: 'm', mzxid: mzxid, czxid: czxid, dver: dver}
}

func deletedVersion(mzxid int64) version { return version{kind: 'd', mzxid: mzxid} }

func childrenVersion(pzxid int64) version { return version{kind: 'p', pzxid: pzxid} }

// base is the version without its repair suffix.
func (v version) base() string {
	switch v.kind {
	case 'm':
		return fmt.Sprintf("m0x%x.v%d.c0x%x", v.mzxid, v.dver, v.czxid)
	case 'd':
		return fmt.Sprintf("d0x%x", v.mzxid)
	case 'p':
		return fmt.Sprintf("p0x%x", v.pzxid)
	}
	return ""
}

func (v version) String() string {
	if v.repair > 0 {
		return v.base() + ".r" + strconv.FormatUint(v.repair, 10)
	}
	return v.base()
}

// order places data versions in ZooKeeper's order: a deletion comes after
// the last version it deleted and before any later incarnation (whose czxid
// is larger than the deletion's zxid).
func (v version) order() (int64, int) {
	switch v.kind {
	case 'm':
		return v.mzxid, 0
	case 'd':
		return v.mzxid, 1
	}
	return -1, 0
}

// after reports whether v is later than w in ZooKeeper's order.
func (v version) after(w version) bool {
	a, ai := v.order()
	b, bi := w.order()
	return a > b || (a == b && ai > bi)
}

// parseVersion reads a version written by version.String; anything else
// gives kind 0.
func parseVersion(s string) version {
	parts := strings.Split(s, ".")
	var v version
	if n := len(parts); n > 1 && strings.HasPrefix(parts[n-1], "r") {
		r, err := strconv.ParseUint(parts[n-1][1:], 10, 64)
		if err != nil {
			return version{}
		}
		v.repair = r
		parts = parts[:n-1]
	}
	zxid := func(s, prefix string) (int64, bool) {
		h, ok := strings.CutPrefix(s, prefix+"0x")
		if !ok {
			return 0, false
		}
		x, err := strconv.ParseInt(h, 16, 64)
		return x, err == nil
	}
	var ok bool
	switch {
	case len(parts) == 3 && strings.HasPrefix(parts[0], "m"):
		var ok1, ok2 bool
		v.mzxid, ok1 = zxid(parts[0], "m")
		v.czxid, ok2 = zxid(parts[2], "c")
		d, err := strconv.ParseInt(strings.TrimPrefix(parts[1], "v"), 10, 32)
		if !ok1 || !ok2 || err != nil || !strings.HasPrefix(parts[1], "v") {
			return version{}
		}
		v.dver, v.kind = int32(d), 'm'
	case len(parts) == 1 && strings.HasPrefix(parts[0], "d"):
		if v.mzxid, ok = zxid(parts[0], "d"); !ok {
			return version{}
		}
		v.kind = 'd'
	case len(parts) == 1 && strings.HasPrefix(parts[0], "p"):
		if v.pzxid, ok = zxid(parts[0], "p"); !ok {
			return version{}
		}
		v.kind = 'p'
	default:
		return version{}
	}
	return v
}
