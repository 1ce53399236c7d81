package ids

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestIDsAreSortedUniqueAndCarryTime(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	clock := at
	g := NewWithClock(func() time.Time { return clock })
	var got []string
	for i := 0; i < 1000; i++ {
		if i == 500 {
			clock = clock.Add(-time.Second) // a clock step back must not break the order
		}
		if i == 700 {
			clock = at.Add(time.Hour)
		}
		got = append(got, g.Next())
	}
	batch := make([]string, 100)
	g.Fill(batch)
	got = append(got, batch...)
	if !slices.IsSorted(got) {
		t.Fatal("IDs are not in increasing order")
	}
	seen := map[string]bool{}
	for _, id := range got {
		if len(id) != Len || seen[id] {
			t.Fatalf("bad or duplicate id %q", id)
		}
		seen[id] = true
	}
	if ts, ok := Time(got[0]); !ok || !ts.Equal(at) {
		t.Fatalf("Time(%s) = %v %v, want %v", got[0], ts, ok, at)
	}
	if ts, _ := Time(got[len(got)-1]); !ts.Equal(at.Add(time.Hour)) {
		t.Fatalf("Time(last) = %v", ts)
	}
	if _, ok := Time("not-an-id"); ok {
		t.Fatal("Time accepted a foreign id")
	}
}

func TestConcurrentGeneratorsNeverCollide(t *testing.T) {
	g := New()
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]string, 2000)
			for i := range local {
				local[i] = g.Next()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate %s", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
}

func TestFillSeqCarriesTheSequence(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	clock := at
	g := NewWithClock(func() time.Time { return clock })
	seqs := []uint64{1, 2, 3, 1 << 20, MaxSeq - 1, MaxSeq}
	first := make([]string, len(seqs))
	g.FillSeq(first, seqs)
	clock = at.Add(-time.Minute) // a step back: the millisecond must not go back with it
	again := make([]string, len(seqs))
	g.FillSeq(again, seqs)
	for i, seq := range seqs {
		for _, id := range []string{first[i], again[i]} {
			if got, ok := Seq(id); !ok || got != seq {
				t.Fatalf("Seq(%s) = %d %v, want %d", id, got, ok, seq)
			}
			if ts, ok := Time(id); !ok || !ts.Equal(at) {
				t.Fatalf("Time(%s) = %v %v, want %v", id, ts, ok, at)
			}
		}
		if first[i] == again[i] {
			t.Fatalf("two IDs for seq %d are equal (%s): the random half is missing", seq, first[i])
		}
	}
	if !slices.IsSorted(first) {
		t.Fatalf("IDs of increasing sequence numbers in one millisecond are not sorted: %v", first)
	}
	clock = at.Add(time.Millisecond)
	later := make([]string, 1)
	g.FillSeq(later, []uint64{1})
	if later[0] <= first[len(first)-1] {
		t.Fatalf("an ID of a later millisecond (%s) sorts before an earlier one (%s)", later[0], first[len(first)-1])
	}
}

func TestSeqRejectsForeignStrings(t *testing.T) {
	g := New()
	for _, id := range []string{"", "not-an-id", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
		"81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "01arz3ndektsv4rrffq69g5fav"} {
		if seq, ok := Seq(id); ok {
			t.Errorf("Seq(%q) = %d, true; want false", id, seq)
		}
	}
	// An entropy ID (Next) is in the format, so it decodes to some number: callers confirm.
	if _, ok := Seq(g.Next()); !ok {
		t.Error("Seq refused an ID of the generated format")
	}
}
