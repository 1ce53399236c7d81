package tier

import "testing"

func TestTierNamesAndSets(t *testing.T) {
	for _, tr := range Tiers {
		got, err := Parse(tr.String())
		if err != nil || got != tr {
			t.Fatalf("Parse(%s) = %v, %v", tr, got, err)
		}
	}
	if _, err := Parse("lukewarm"); err == nil {
		t.Fatal("Parse accepted an unknown tier")
	}
	if Tier(7).Valid() || Tier(7).String() != "tier(7)" {
		t.Fatal("invalid tier reported as valid")
	}
	if !Default.Has(Hot) || !Default.Has(Warm) || Default.Has(Cold) {
		t.Fatalf("default set = %s, want hot+warm", Default)
	}
	if s := Of(Cold); s.Has(Hot) || !s.Has(Cold) || s.String() != "cold" {
		t.Fatalf("Of(Cold) = %s", s)
	}
	if All.String() != "hot+warm+cold" {
		t.Fatalf("All = %s", All)
	}
}

func TestCounts(t *testing.T) {
	var c Counts
	c.Add(Hot, 3)
	c.Add(Cold, 2)
	c.Add(Hot, -1)
	c.Add(Tier(9), 5) // ignored
	if got := c.Snapshot(); got != [3]int64{2, 0, 2} || c.Get(Tier(9)) != 0 {
		t.Fatalf("counts = %v", got)
	}
}
