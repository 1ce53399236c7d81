package tier_test

import (
	"fmt"

	"github.com/engram-go/engram/tier"
)

func ExampleSet() {
	var def tier.Set // zero value: the default search set
	fmt.Println(def, tier.Of(tier.Cold), tier.All)
	fmt.Println(def.Has(tier.Warm), def.Has(tier.Cold))
	// Output:
	// hot+warm cold hot+warm+cold
	// true false
}
