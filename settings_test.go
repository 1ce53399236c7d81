package engram

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
)

// TestSettingsRoundTrip: a space recreated from another's Settings().Options() has the same
// stored configuration (everything but its creation time), for the defaults and for a
// space with every option set, including across a reopen.
func TestSettingsRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	every := []SpaceOption{
		WithDimension(12), WithIndex(IndexHNSW), WithHNSW(8, 64, 40), WithHNSWThreshold(77), WithConfidenceWeight(0.3),
		WithTiering(tier.Policy{HotCapacity: 50, HighWatermark: 0.95, LowWatermark: 0.7, ActivationHalfLife: 90 * time.Minute,
			WarmIdle: 1500 * time.Millisecond, Promote: tier.PromoteOnRecall | tier.PromoteOnGet, MaxPerCycle: 300, BatchSize: 30,
			Backpressure: tier.FailFast}),
		WithDecay(tier.Decay{Kind: tier.PowerLaw, HalfLife: time.Hour, Scale: 3 * time.Hour, Exponent: 0.7, Floor: 0.2, RecencyBoost: 0.25}),
	}
	cases := []struct {
		name string
		opts []SpaceOption
	}{
		{"defaults", nil},
		{"every", every},
		{"exponential", []SpaceOption{WithIndex(IndexFlat), WithDecay(tier.Decay{Kind: tier.Exponential})}},
		{"tiered", []SpaceOption{WithTiering(tier.Policy{HotCapacity: 3, Promote: tier.PromoteNever})}},
	}
	for _, tc := range cases {
		src, err := s.Space(ctx, tc.name, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		set := src.Settings()
		dst, err := s.Space(ctx, tc.name+"-copy", set.Options()...)
		if err != nil {
			t.Fatalf("%s: recreating from %+v: %v", tc.name, set, err)
		}
		a, b := src.config(), dst.config()
		b.Created = a.Created
		if a != b {
			t.Fatalf("%s: recreated config differs:\n%+v\n%+v", tc.name, a, b)
		}
		if got := dst.Settings(); got != set {
			t.Fatalf("%s: settings %+v, want %+v", tc.name, got, set)
		}
		// The options agree with the space they came from.
		if _, err := s.Space(ctx, tc.name, set.Options()...); err != nil {
			t.Fatalf("%s: options refused by their own space: %v", tc.name, err)
		}
	}
	want := map[string]SpaceSettings{}
	for _, n := range s.Spaces() {
		sp, _ := s.LookupSpace(n)
		want[n] = sp.Settings()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for n, w := range want {
		sp, _ := s.LookupSpace(n)
		if got := sp.Settings(); got != w {
			t.Fatalf("%s after reopen: %+v, want %+v", n, got, w)
		}
	}
}

// TestSettingsValues: Settings reports what the options asked for, with defaults filled in
// and durations rounded up to whole seconds as stored; the dimension appears once fixed.
func TestSettingsValues(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "a", WithConfidenceWeight(0.25),
		WithTiering(tier.Policy{HotCapacity: 10, WarmIdle: 1500 * time.Millisecond}),
		WithDecay(tier.Decay{Kind: tier.Exponential, HalfLife: 90 * time.Second}))
	got := sp.Settings()
	want := SpaceSettings{
		Index: IndexAuto, M: DefaultHNSWM, EfConstruction: DefaultHNSWEfConstruction, EfSearch: DefaultHNSWEfSearch,
		HNSWThreshold: DefaultHNSWThreshold, ConfidenceWeight: 0.25,
		Tiering: tier.Policy{HotCapacity: 10, WarmIdle: 2 * time.Second}.WithDefaults(),
		Decay:   tier.Decay{Kind: tier.Exponential, HalfLife: 90 * time.Second}.WithDefaults(),
	}
	// Watermarks are stored as float32.
	want.Tiering.HighWatermark, want.Tiering.LowWatermark = float64(float32(1)), float64(float32(0.9))
	if got != want {
		t.Fatalf("settings\n%+v, want\n%+v", got, want)
	}
	for _, o := range got.Options() {
		var so spaceOptions
		if err := o(&so); err != nil {
			t.Fatal(err)
		}
		if so.dimSet {
			t.Fatal("Options fixes a dimension the space does not have")
		}
	}
	if _, err := sp.Remember(ctx, Memory{Embedding: []float32{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if d := sp.Settings().Dim; d != 3 {
		t.Fatalf("dim %d after the first memory, want 3", d)
	}
	// A space made from these settings refuses other dimensions.
	other := mustSpace(t, s, "b", sp.Settings().Options()...)
	if _, err := other.Remember(ctx, Memory{Embedding: []float32{1, 2}}); CodeOf(err) != CodeDimensionMismatch {
		t.Fatalf("2-d memory in a space recreated at 3-d: %v", err)
	}
	// Settings a hand made out of range are refused when used, not silently changed.
	bad := sp.Settings()
	bad.M = 1
	if _, err := s.Space(ctx, "c", bad.Options()...); CodeOf(err) != CodeInvalidOption {
		t.Fatalf("M=1: %v", err)
	}
}

// namedEmbedder is an embedder with a name, for the settings tests.
type namedEmbedder struct{ name string }

func (e namedEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{1, float32(len(t))}
	}
	return out, nil
}
func (e namedEmbedder) Dimension() int { return 2 }
func (e namedEmbedder) Name() string   { return e.name }

// TestSettingsEmbedder: Settings names the embedder a space recorded; Options do not
// recreate it (an embedder is code), and the recreated space records it again once given
// the same embedder, refusing another.
func TestSettingsEmbedder(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	src := mustSpace(t, s, "src", WithEmbedder(namedEmbedder{"toy-v1"}))
	if _, err := src.Remember(ctx, Memory{Content: "tea"}); err != nil {
		t.Fatal(err)
	}
	set := src.Settings()
	if set.Embedder != "toy-v1" || set.Dim != 2 {
		t.Fatalf("settings %+v", set)
	}
	dst := mustSpace(t, s, "dst", set.Options()...)
	if got := dst.Settings().Embedder; got != "" {
		t.Fatalf("Options recreated the embedder %q", got)
	}
	if _, err := s.Space(ctx, "dst", WithEmbedder(namedEmbedder{"toy-v1"})); err != nil {
		t.Fatal(err)
	}
	if got := dst.Settings(); got != set {
		t.Fatalf("with the embedder attached: %+v, want %+v", got, set)
	}
	if _, err := s.Space(ctx, "dst", WithEmbedder(namedEmbedder{"other"})); CodeOf(err) != CodeInvalidOption {
		t.Fatalf("another embedder: %v", err)
	}
}
