package tier_test

import (
	"fmt"
	"time"

	"github.com/engram-go/engram/tier"
)

const day = 24 * time.Hour

func ExampleParse() {
	for _, s := range []string{"warm", "COLD", "lukewarm"} {
		t, err := tier.Parse(s)
		fmt.Println(t, err)
	}
	// Output:
	// warm <nil>
	// cold <nil>
	// hot tier: unknown tier "lukewarm"
}

func ExampleOf() {
	s := tier.Of(tier.Hot, tier.Cold)
	fmt.Println(s, s.Has(tier.Warm), s.Has(tier.Cold))
	// Of with no tiers is the zero Set, which means the default search set.
	fmt.Println(tier.Of() == tier.Default, tier.Of())
	// Output:
	// hot+cold false true
	// true hot+warm
}

func ExamplePolicy_Activation() {
	p := tier.Policy{HotCapacity: 1000}.WithDefaults() // activation half-life 7 days
	// Just written; recalled 3 times (1 + log2(1+3)); then untouched for a half-life.
	fmt.Println(p.Activation(1, 0, 0), p.Activation(1, 3, 0), p.Activation(1, 3, 7*day))
	// Low confidence, idle for two half-lives.
	fmt.Println(p.Activation(0.5, 0, 14*day))
	// Output:
	// 1 3 1.5
	// 0.125
}

func ExamplePolicy_State() {
	p := tier.Policy{HotCapacity: 100}.WithDefaults()
	fmt.Println("watermarks:", p.High(), p.Low())
	for _, hot := range []int{50, 99, 100, 105, 110} {
		fmt.Println(hot, p.State(hot), p.Overloaded(hot))
	}
	// Output:
	// watermarks: 100 90
	// 50 normal false
	// 99 normal false
	// 100 warning false
	// 105 critical false
	// 110 overloaded true
}

func ExampleDecay_Apply() {
	// Exponential decay halving confidence every day, never below the default floor 0.05.
	d := tier.Decay{Kind: tier.Exponential, HalfLife: day}.WithDefaults()
	for _, idle := range []time.Duration{0, day, 2 * day, 30 * day} {
		fmt.Printf("%v: %.2f\n", idle, d.Apply(0.8, idle))
	}
	// Power-law decay: c × (1 + t/Scale)^−Exponent, with a 1-day scale and exponent 0.5.
	p := tier.Decay{Kind: tier.PowerLaw}.WithDefaults()
	fmt.Printf("power law after 3 days: %.2f\n", p.Apply(1, 3*day))
	// Output:
	// 0s: 0.80
	// 24h0m0s: 0.40
	// 48h0m0s: 0.20
	// 720h0m0s: 0.05
	// power law after 3 days: 0.50
}

func ExampleDecay_Boost() {
	d := tier.Decay{Kind: tier.Exponential, HalfLife: day, RecencyBoost: 1}.WithDefaults()
	// Scores of memories used just now are doubled, the boost halving every half-life.
	fmt.Println(d.Boost(0), d.Boost(day), d.Boost(2*day))
	// Output: 2 1.5 1.25
}
