package engram

import "github.com/engram-go/engram/tier"

// SpaceSettings is a space's configuration: everything its SpaceOptions fixed when it was
// created (and the dimension, which the first memory may fix later). Read it with
// Space.Settings; recreate an equal space elsewhere with Store.Space(ctx, name,
// settings.Options()...) — what a backup's import does to give memories back the space
// they came from.
type SpaceSettings struct {
	// Dim is the embedding dimension, 0 while no memory has fixed it.
	Dim int
	// Index is the index choice (WithIndex).
	Index IndexKind
	// M, EfConstruction and EfSearch are the graph's parameters (WithHNSW).
	M, EfConstruction, EfSearch int
	// HNSWThreshold is where an IndexAuto space moves to the graph (WithHNSWThreshold).
	HNSWThreshold int
	// ConfidenceWeight is confidence's weight in scores (WithConfidenceWeight).
	ConfidenceWeight float32
	// Tiering is the tier policy (WithTiering), with defaults filled in and durations in
	// whole seconds as stored; HotCapacity 0 means the space has no tiering.
	Tiering tier.Policy
	// Decay is the confidence decay (WithDecay), defaults filled in and durations in whole
	// seconds; Kind tier.NoDecay means none.
	Decay tier.Decay
	// Embedder is the name of the embedder that made the space's vectors (recorded by
	// WithEmbedder; "" when none is recorded). Options cannot recreate it — an embedder is
	// code, not data: pass WithEmbedder with the same embedder to the recreated space,
	// which records the name again.
	Embedder string
}

// Settings returns the space's configuration.
func (sp *Space) Settings() SpaceSettings {
	c := sp.config()
	return SpaceSettings{
		Dim:              c.Dim,
		Index:            IndexKind(c.Index),
		M:                c.M,
		EfConstruction:   c.EfConstruction,
		EfSearch:         c.EfSearch,
		HNSWThreshold:    c.HNSWThreshold,
		ConfidenceWeight: c.ConfidenceWeight,
		Tiering:          policyOf(c),
		Decay:            decayOf(c),
		Embedder:         c.Ext.EmbedderName,
	}
}

// Options returns the space options that create a space with these settings: a space made
// with them has the same Settings, except for Embedder (see there). The dimension is
// included only when fixed (Dim > 0), tiering only with a hot capacity, decay only with a
// kind. Passed for an existing space
// they check, as any options do, that its configuration agrees (INVALID_OPTION or
// DIMENSION_MISMATCH otherwise). Settings that are out of range — possible only in a
// hand-made value — make Store.Space fail with INVALID_OPTION.
func (s SpaceSettings) Options() []SpaceOption {
	opts := []SpaceOption{
		WithIndex(s.Index),
		WithHNSW(s.M, s.EfConstruction, s.EfSearch),
		WithHNSWThreshold(s.HNSWThreshold),
		WithConfidenceWeight(s.ConfidenceWeight),
	}
	if s.Dim > 0 {
		opts = append(opts, WithDimension(s.Dim))
	}
	if s.Tiering.HotCapacity > 0 {
		opts = append(opts, WithTiering(s.Tiering))
	}
	if s.Decay.Kind != tier.NoDecay {
		opts = append(opts, WithDecay(s.Decay))
	}
	return opts
}
