package tier

import (
	"math"
	"testing"
	"time"
)

func TestActivationRanksUseConfidenceAndRecency(t *testing.T) {
	p := Policy{HotCapacity: 100}.WithDefaults()
	day := 24 * time.Hour
	fresh := p.Activation(0.8, 0, 0)
	used := p.Activation(0.8, 7, 0)
	old := p.Activation(0.8, 0, 7*day)
	doubt := p.Activation(0.2, 0, 0)
	if !(used > fresh && fresh > old && fresh > doubt) {
		t.Fatalf("fresh %v used %v old %v doubtful %v", fresh, used, old, doubt)
	}
	if math.Abs(old-fresh/2) > 1e-9 || math.Abs(used-fresh*4) > 1e-9 {
		t.Fatalf("formula: half-life and log2(1+7)=3 → ×4: %v %v %v", fresh, old, used)
	}
	if p.High() != 100 || p.Low() != 90 {
		t.Fatalf("watermarks %d %d", p.High(), p.Low())
	}
	for hot, want := range map[int]Pressure{50: Normal, 100: Warning, 106: Critical, 110: Overloaded} {
		if got := p.State(hot); got != want {
			t.Errorf("State(%d) = %s, want %s", hot, got, want)
		}
	}
	if !p.Overloaded(110) || p.Overloaded(109) || (Policy{}).Overloaded(1<<30) {
		t.Fatal("Overloaded")
	}
}

func TestDecayMatchesFormulas(t *testing.T) {
	day := 24 * time.Hour
	e := Decay{Kind: Exponential, HalfLife: 10 * day, Floor: 0.1}.WithDefaults()
	if got := e.Apply(0.8, 10*day); math.Abs(float64(got)-0.4) > 1e-6 {
		t.Fatalf("exponential after one half-life: %v", got)
	}
	if got := e.Apply(0.8, 1000*day); got != 0.1 {
		t.Fatalf("floor: %v", got)
	}
	if got := e.Apply(0.05, 1000*day); got != 0.05 {
		t.Fatalf("a confidence below the floor is not raised: %v", got)
	}
	pl := Decay{Kind: PowerLaw, Scale: day, Exponent: 0.5}.WithDefaults()
	if got, want := pl.Apply(0.9, 3*day), 0.9*math.Pow(4, -0.5); math.Abs(float64(got)-want) > 1e-6 {
		t.Fatalf("power law: %v, want %v", got, want)
	}
	if (Decay{}).Apply(0.7, 100*day) != 0.7 {
		t.Fatal("no decay changed the confidence")
	}
	b := Decay{Kind: Exponential, RecencyBoost: 0.5}.WithDefaults()
	if got := b.Boost(0); got != 1.5 {
		t.Fatalf("boost at 0: %v", got)
	}
	if got := b.Boost(b.HalfLife); math.Abs(float64(got)-1.25) > 1e-6 {
		t.Fatalf("boost after a half-life: %v", got)
	}
}

// TestStateSmallCapacities: the pressure thresholds keep their margins at small
// capacities, and overloaded is always above the high watermark (where demotion runs).
func TestStateSmallCapacities(t *testing.T) {
	p := Policy{HotCapacity: 4}.WithDefaults()
	for hot, want := range map[int]Pressure{3: Normal, 4: Warning, 5: Overloaded} {
		if got := p.State(hot); got != want {
			t.Errorf("capacity 4: State(%d) = %s, want %s", hot, got, want)
		}
	}
	for _, c := range []int{1, 2, 3, 7, 19, 20, 21, 1000} {
		for _, high := range []float64{0.5, 1, 1.2, 3} {
			p := Policy{HotCapacity: c, HighWatermark: high}.WithDefaults()
			for hot := 0; hot <= 4*c+2; hot++ {
				if p.Overloaded(hot) && hot <= p.High() {
					t.Fatalf("capacity %d, high %v: overloaded at %d, not above the high watermark %d", c, high, hot, p.High())
				}
			}
		}
	}
}

// TestDecayUnsetFieldsMeanDefaults: a Decay used without WithDefaults behaves as with it.
func TestDecayUnsetFieldsMeanDefaults(t *testing.T) {
	for _, k := range []DecayKind{Exponential, PowerLaw} {
		raw, def := Decay{Kind: k, RecencyBoost: 0.5}, Decay{Kind: k, RecencyBoost: 0.5}.WithDefaults()
		for _, age := range []time.Duration{0, time.Hour, 40 * 24 * time.Hour} {
			if a, b := raw.Apply(0.8, age), def.Apply(0.8, age); a != b || a != a {
				t.Fatalf("kind %d, age %v: %v without defaults, %v with", k, age, a, b)
			}
			if a, b := raw.Boost(age), def.Boost(age); a != b {
				t.Fatalf("boost, age %v: %v vs %v", age, a, b)
			}
		}
	}
}
