package znode

import "testing"

func TestVersion_RoundTripAndOrder(t *testing.T) {
	for _, v := range []Version{
		DataVersion(0x100000005, 0x100000002, 3),
		DeletedVersion(0x1f),
		ChildrenVersion(0x20),
		{Kind: 'm', Mzxid: 9, Czxid: 9, Repair: 42},
	} {
		s := v.String()
		if got := ParseVersion(s); got != v {
			t.Errorf("%q parsed as %+v, want %+v", s, got, v)
		}
	}
	if s := DataVersion(0x1f, 0x1a, 3).String(); s != "m0x1f.v3.c0x1a" {
		t.Errorf("data version %q", s)
	}
	for _, bad := range []string{"", "42", "m0x1f", "m1f.v3.c0x1a", "d0xzz", "p0x1.r", "x0x1"} {
		if v := ParseVersion(bad); v.Kind != 0 {
			t.Errorf("%q parsed as %+v", bad, v)
		}
	}
	m5, m7 := DataVersion(5, 1, 1), DataVersion(7, 1, 2)
	d5, d7 := DeletedVersion(5), DeletedVersion(7)
	again := DataVersion(9, 9, 0) // created after the deletion at zxid 8
	order := []Version{m5, d5, m7, d7, again}
	for i := range order {
		for j := range order {
			if got, want := order[i].After(order[j]), i > j; got != want {
				t.Errorf("%v after %v = %v, want %v", order[i], order[j], got, want)
			}
		}
	}
}
