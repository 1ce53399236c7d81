// Package tier owns where a memory lives.
//
//   - Hot: full-precision vector in the space's in-memory graph; fastest recall.
//   - Warm: an 8-bit code in memory, in an index of its own (a quarter of the hot tier's
//     vector memory), re-ranked from the record; recalled by default with hot.
//   - Cold: archived, on disk only; excluded from default recall, always reachable by ID.
//
// A record carries the tier it was written to (hot for Remember, cold for Archive); the
// store keeps later moves in a small placement bucket beside the records, so migrating a
// memory rewrites nine bytes, not the memory. Policy (policy.go) decides the moves.
package tier

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// Tier is a memory's placement. The zero value is Hot.
type Tier uint8

// The tiers, in order of decreasing speed.
const (
	Hot Tier = iota
	Warm
	Cold
	numTiers
)

// Tiers lists every tier, hot first.
var Tiers = [...]Tier{Hot, Warm, Cold}

func (t Tier) String() string {
	switch t {
	case Hot:
		return "hot"
	case Warm:
		return "warm"
	case Cold:
		return "cold"
	}
	return fmt.Sprintf("tier(%d)", uint8(t))
}

// Valid reports whether t is one of the defined tiers.
func (t Tier) Valid() bool { return t < numTiers }

// Parse turns "hot", "warm" or "cold" into a Tier.
func Parse(s string) (Tier, error) {
	for _, t := range Tiers {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("tier: unknown tier %q", s)
}

// Set is a set of tiers, used by queries to name where to search. The zero value means
// "the default": hot and warm, searched together.
type Set uint8

// Common sets.
const (
	Default Set = 0
	All     Set = 1<<Hot | 1<<Warm | 1<<Cold
)

// Of returns the set holding ts.
func Of(ts ...Tier) Set {
	var s Set
	for _, t := range ts {
		s |= 1 << t
	}
	return s
}

// Resolve replaces the zero Set by the default search set (hot and warm).
func (s Set) Resolve() Set {
	if s == Default {
		return Of(Hot, Warm)
	}
	return s
}

// Has reports whether the (resolved) set includes t.
func (s Set) Has(t Tier) bool { return s.Resolve()&(1<<t) != 0 }

func (s Set) String() string {
	var parts []string
	for _, t := range Tiers {
		if s.Has(t) {
			parts = append(parts, t.String())
		}
	}
	return strings.Join(parts, "+")
}

// Counts tracks how many memories each tier of a space holds. It is safe for concurrent use.
type Counts struct {
	n [numTiers]atomic.Int64
}

// Add adjusts the count of t by delta.
func (c *Counts) Add(t Tier, delta int64) {
	if t.Valid() {
		c.n[t].Add(delta)
	}
}

// Get returns the count of t.
func (c *Counts) Get(t Tier) int64 {
	if !t.Valid() {
		return 0
	}
	return c.n[t].Load()
}

// Snapshot returns all counts, indexed by Tier.
func (c *Counts) Snapshot() [3]int64 {
	return [3]int64{c.n[Hot].Load(), c.n[Warm].Load(), c.n[Cold].Load()}
}
