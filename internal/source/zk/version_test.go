package zk

import "testing"

func TestVersion_RoundTripAndOrder(t *testing.T) {
	for _, v := range []version{
		dataVersion(0x100000005, 0x100000002, 3),
		deletedVersion(0x1f),
		childrenVersion(0x20),
		{kind: 'm', mzxid: 9, czxid: 9, repair: 42},
	} {
		s := v.String()
		if got := parseVersion(s); got != v {
			t.Errorf("%q parsed as %+v, want %+v", s, got, v)
		}
	}
	if s := dataVersion(0x1f, 0x1a, 3).String(); s != "m0x1f.v3.c0x1a" {
		t.Errorf("data version %q", s)
	}
	for _, bad := range []string{"", "42", "m0x1f", "m1f.v3.c0x1a", "d0xzz", "p0x1.r", "x0x1"} {
		if v := parseVersion(bad); v.kind != 0 {
			t.Errorf("%q parsed as %+v", bad, v)
		}
	}
	m5, m7 := dataVersion(5, 1, 1), dataVersion(7, 1, 2)
	d5, d7 := deletedVersion(5), deletedVersion(7)
	again := dataVersion(9, 9, 0) // created after the deletion at zxid 8
	order := []version{m5, d5, m7, d7, again}
	for i := range order {
		for j := range order {
			if got, want := order[i].after(order[j]), i > j; got != want {
				t.Errorf("%v after %v = %v, want %v", order[i], order[j], got, want)
			}
		}
	}
}
