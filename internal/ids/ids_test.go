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
