package znode

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is the parsed heraldversion of a zk event. It is built only from
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
// (the source stores the current state again after an older version was
// stored last) appends ".r<stream sequence>".
type Version struct {
	Kind    byte // KindData, KindDeleted or KindChildren; 0 when unparsable
	Mzxid   int64
	Czxid   int64
	Pzxid   int64
	DataVer int32
	Repair  uint64
}

// The kinds of version.
const (
	KindData     byte = 'm' // zk.created, zk.changed
	KindDeleted  byte = 'd' // zk.deleted
	KindChildren byte = 'p' // zk.children
)

// DataVersion is the version of a zk.created or zk.changed event.
func DataVersion(mzxid, czxid int64, dver int32) Version {
	return Version{Kind: KindData, Mzxid: mzxid, Czxid: czxid, DataVer: dver}
}

// DeletedVersion is the version of the deletion of the data version whose
// mzxid is given.
func DeletedVersion(mzxid int64) Version { return Version{Kind: KindDeleted, Mzxid: mzxid} }

// ChildrenVersion is the version of a zk.children event.
func ChildrenVersion(pzxid int64) Version { return Version{Kind: KindChildren, Pzxid: pzxid} }

// base is the version without its repair suffix.
func (v Version) base() string {
	switch v.Kind {
	case KindData:
		return fmt.Sprintf("m0x%x.v%d.c0x%x", v.Mzxid, v.DataVer, v.Czxid)
	case KindDeleted:
		return fmt.Sprintf("d0x%x", v.Mzxid)
	case KindChildren:
		return fmt.Sprintf("p0x%x", v.Pzxid)
	}
	return ""
}

func (v Version) String() string {
	if v.Repair > 0 {
		return v.base() + ".r" + strconv.FormatUint(v.Repair, 10)
	}
	return v.base()
}

// order places data versions in ZooKeeper's order: a deletion comes after
// the last version it deleted and before any later incarnation (whose czxid
// is larger than the deletion's zxid).
func (v Version) order() (int64, int) {
	switch v.Kind {
	case KindData:
		return v.Mzxid, 0
	case KindDeleted:
		return v.Mzxid, 1
	}
	return -1, 0
}

// After reports whether v is later than w in ZooKeeper's order.
func (v Version) After(w Version) bool {
	a, ai := v.order()
	b, bi := w.order()
	return a > b || (a == b && ai > bi)
}

// ParseVersion reads a version written by Version.String; anything else
// gives Kind 0.
func ParseVersion(s string) Version {
	parts := strings.Split(s, ".")
	var v Version
	if n := len(parts); n > 1 && strings.HasPrefix(parts[n-1], "r") {
		r, err := strconv.ParseUint(parts[n-1][1:], 10, 64)
		if err != nil {
			return Version{}
		}
		v.Repair = r
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
		v.Mzxid, ok1 = zxid(parts[0], "m")
		v.Czxid, ok2 = zxid(parts[2], "c")
		d, err := strconv.ParseInt(strings.TrimPrefix(parts[1], "v"), 10, 32)
		if !ok1 || !ok2 || err != nil || !strings.HasPrefix(parts[1], "v") {
			return Version{}
		}
		v.DataVer, v.Kind = int32(d), KindData
	case len(parts) == 1 && strings.HasPrefix(parts[0], "d"):
		if v.Mzxid, ok = zxid(parts[0], "d"); !ok {
			return Version{}
		}
		v.Kind = KindDeleted
	case len(parts) == 1 && strings.HasPrefix(parts[0], "p"):
		if v.Pzxid, ok = zxid(parts[0], "p"); !ok {
			return Version{}
		}
		v.Kind = KindChildren
	default:
		return Version{}
	}
	return v
}
