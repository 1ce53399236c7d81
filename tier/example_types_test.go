package tier_test

import (
	"fmt"
	"sync"

	"github.com/engram-go/engram/tier"
)

// Counts keeps a space's per-tier memory counts; writers and the migration cycle
// adjust it concurrently, and metrics read a consistent Snapshot.
func ExampleCounts() {
	var c tier.Counts
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { c.Add(tier.Hot, 10) })
	}
	wg.Wait()
	c.Add(tier.Hot, -5) // a migration demotes five memories...
	c.Add(tier.Warm, 5) // ...to warm
	fmt.Println(c.Get(tier.Hot), c.Get(tier.Warm), c.Get(tier.Cold))
	for _, t := range tier.Tiers {
		fmt.Println(t, c.Snapshot()[t])
	}
	// Output:
	// 35 5 0
	// hot 35
	// warm 5
	// cold 0
}

// Decay.WithDefaults shows the parameters an enabled decay runs with when fields are
// left zero (Apply and Boost fill them the same way).
func ExampleDecay_WithDefaults() {
	d := tier.Decay{Kind: tier.PowerLaw}.WithDefaults()
	fmt.Println(d.HalfLife, d.Scale, d.Exponent, d.Floor)
	// Set fields are kept.
	d = tier.Decay{Kind: tier.Exponential, HalfLife: day, Floor: 0.2}.WithDefaults()
	fmt.Println(d.HalfLife, d.Floor)
	// Output:
	// 720h0m0s 24h0m0s 0.5 0.05
	// 24h0m0s 0.2
}

// Policy.WithDefaults fills a placement policy's unset fields.
func ExamplePolicy_WithDefaults() {
	p := tier.Policy{HotCapacity: 10_000}.WithDefaults()
	fmt.Println(p.HighWatermark, p.LowWatermark, p.ActivationHalfLife, p.MaxPerCycle, p.BatchSize)
	fmt.Println(p.Promote.OnRecall(), p.Backpressure)
	// Output:
	// 1 0.9 168h0m0s 20000 1000
	// true block
}

// High and Low turn the watermark fractions into memory counts: a migration cycle
// starts demoting when the hot tier passes High and stops at Low.
func ExamplePolicy_High() {
	p := tier.Policy{HotCapacity: 10_000}.WithDefaults()
	fmt.Println("demote above", p.High(), "down to", p.Low())

	// A low watermark not below the high one falls back to 90% of the high one.
	p = tier.Policy{HotCapacity: 10_000, HighWatermark: 0.8, LowWatermark: 0.8}.WithDefaults()
	fmt.Println(p.High(), p.Low())
	// Output:
	// demote above 10000 down to 9000
	// 8000 7200
}

// Policy.Overloaded is the test writes apply before adding to a full hot tier: true
// means they wait (Block) or are refused with BACKPRESSURE (FailFast). Tiering off
// (HotCapacity 0) never overloads.
func ExamplePolicy_Overloaded() {
	p := tier.Policy{HotCapacity: 1000, Backpressure: tier.FailFast}.WithDefaults()
	for _, hot := range []int{1000, 1099, 1100} {
		fmt.Println(hot, p.Overloaded(hot), p.Backpressure)
	}
	fmt.Println(tier.Policy{}.WithDefaults().Overloaded(1 << 30))
	// Output:
	// 1000 false fail-fast
	// 1099 false fail-fast
	// 1100 true fail-fast
	// false
}

// Promotion says which reads bring warm and cold memories back to hot. Combine
// triggers with |; PromoteNever turns both off. The zero value is the default
// (recall only) once the policy's WithDefaults has run.
func ExamplePromotion() {
	for _, p := range []tier.Promotion{
		tier.PromoteOnRecall,
		tier.PromoteOnRecall | tier.PromoteOnGet,
		tier.PromoteNever,
		tier.Policy{}.WithDefaults().Promote,
	} {
		fmt.Println(p.OnRecall(), p.OnGet())
	}
	// Output:
	// true false
	// true true
	// false false
	// true false
}

// Set.Resolve turns the zero Set (what a query leaves unset) into the tiers actually
// searched, so code can ask Has of any Set.
func ExampleSet_Resolve() {
	var q tier.Set // a query that names no tiers
	r := q.Resolve()
	fmt.Println(r, r == tier.Of(tier.Hot, tier.Warm))
	fmt.Println(r.Has(tier.Hot), r.Has(tier.Warm), r.Has(tier.Cold))
	// A non-zero set resolves to itself.
	fmt.Println(tier.Of(tier.Cold).Resolve())
	// Output:
	// hot+warm true
	// true true false
	// cold
}

// Tier.Valid checks a tier that came from outside (a decoded record, a caller's
// uint8) before it is used as an index.
func ExampleTier_Valid() {
	fmt.Println(tier.Hot.Valid(), tier.Cold.Valid(), tier.Tier(7).Valid())
	// Output: true true false
}
