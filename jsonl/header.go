package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// FormatVersion is the version of the header this package writes, and the newest it
// reads. A reader refuses a header of a newer version (ErrHeader) rather than guess what
// its new fields mean.
const FormatVersion = 1

// headerKey is the member that makes a line a header. A memory never has it: it is not a
// memory field, so a memory line holding it would be refused anyway.
const headerKey = "engram_jsonl"

// ErrHeader is wrapped by the error for a header line that cannot be used: not a valid
// header, or of a newer FormatVersion. A bad header ends reading (see Reader.Header).
var ErrHeader = errors.New("invalid header")

// Header is the first line of a lossless export: the format version and the settings of
// the space the memories came from, dimension included, so that an import recreates the
// space as it was. See the package documentation for its JSON form.
type Header struct {
	// Version is the header's FormatVersion. Writer.WriteHeader always writes
	// FormatVersion; the Reader reports what the file says.
	Version int
	// Space is the name of the exported space (an import may choose another).
	Space string
	// Settings is the space's configuration: engram.SpaceSettings.Options recreates it.
	Settings engram.SpaceSettings
}

// HeaderOf returns the header of an export of sp.
func HeaderOf(sp *engram.Space) Header {
	return Header{Version: FormatVersion, Space: sp.Name(), Settings: sp.Settings()}
}

// The header's JSON form. Field names and meanings of a version never change; a new
// field or meaning is a new FormatVersion.
type wireHeader struct {
	Version  int          `json:"engram_jsonl"`
	Space    string       `json:"space"`
	Dim      int          `json:"dim"`
	Settings wireSettings `json:"settings"`
}

type wireSettings struct {
	Index            string       `json:"index"`
	HNSW             wireHNSW     `json:"hnsw"`
	ConfidenceWeight float32      `json:"confidence_weight"`
	Tiering          *wireTiering `json:"tiering,omitempty"`
	Decay            *wireDecay   `json:"decay,omitempty"`
	Embedder         string       `json:"embedder,omitempty"`
}

type wireHNSW struct {
	M              int `json:"m"`
	EfConstruction int `json:"ef_construction"`
	EfSearch       int `json:"ef_search"`
	Threshold      int `json:"threshold"`
}

// Watermarks and decay numbers are written as float32, which is what the store keeps: a
// float64 written from them would show float32's rounding (0.8999999761581421).
type wireTiering struct {
	HotCapacity        int      `json:"hot_capacity"`
	HighWatermark      float32  `json:"high_watermark"`
	LowWatermark       float32  `json:"low_watermark"`
	ActivationHalfLife int64    `json:"activation_half_life_seconds"`
	WarmIdle           int64    `json:"warm_idle_seconds"`
	Promote            []string `json:"promote"`
	MaxPerCycle        int      `json:"max_per_cycle"`
	BatchSize          int      `json:"batch_size"`
	Backpressure       string   `json:"backpressure"`
}

type wireDecay struct {
	Kind         string  `json:"kind"`
	HalfLife     int64   `json:"half_life_seconds"`
	Scale        int64   `json:"scale_seconds"`
	Exponent     float32 `json:"exponent"`
	Floor        float32 `json:"floor"`
	RecencyBoost float32 `json:"recency_boost"`
}

var (
	indexNames = map[engram.IndexKind]string{engram.IndexAuto: "auto", engram.IndexFlat: "flat", engram.IndexHNSW: "hnsw"}
	modeNames  = map[tier.Mode]string{tier.Block: "block", tier.FailFast: "fail-fast"}
	decayNames = map[tier.DecayKind]string{tier.Exponential: "exponential", tier.PowerLaw: "power-law"}
)

// encodeHeader renders h as its JSON line (without the newline).
func encodeHeader(h Header) ([]byte, error) {
	s := h.Settings
	index, ok := indexNames[s.Index]
	if !ok {
		return nil, fmt.Errorf("jsonl: header: unknown index kind %v", s.Index)
	}
	w := wireHeader{Version: FormatVersion, Space: h.Space, Dim: s.Dim, Settings: wireSettings{
		Index:            index,
		HNSW:             wireHNSW{M: s.M, EfConstruction: s.EfConstruction, EfSearch: s.EfSearch, Threshold: s.HNSWThreshold},
		ConfidenceWeight: s.ConfidenceWeight,
		Embedder:         s.Embedder,
	}}
	if p := s.Tiering; p.HotCapacity > 0 {
		mode, ok := modeNames[p.Backpressure]
		if !ok {
			return nil, fmt.Errorf("jsonl: header: unknown backpressure mode %v", p.Backpressure)
		}
		w.Settings.Tiering = &wireTiering{
			HotCapacity: p.HotCapacity, HighWatermark: float32(p.HighWatermark), LowWatermark: float32(p.LowWatermark),
			ActivationHalfLife: seconds(p.ActivationHalfLife), WarmIdle: seconds(p.WarmIdle),
			Promote: promoteNames(p.Promote), MaxPerCycle: p.MaxPerCycle, BatchSize: p.BatchSize, Backpressure: mode,
		}
	}
	if d := s.Decay; d.Kind != tier.NoDecay {
		kind, ok := decayNames[d.Kind]
		if !ok {
			return nil, fmt.Errorf("jsonl: header: unknown decay kind %v", d.Kind)
		}
		w.Settings.Decay = &wireDecay{Kind: kind, HalfLife: seconds(d.HalfLife), Scale: seconds(d.Scale),
			Exponent: float32(d.Exponent), Floor: d.Floor, RecencyBoost: d.RecencyBoost}
	}
	return json.Marshal(w)
}

// seconds is d in whole seconds, rounded up as the store keeps it.
func seconds(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) }

func promoteNames(p tier.Promotion) []string {
	names := []string{} // never: an empty list, not null
	if p == 0 {
		p = tier.PromoteOnRecall // the zero value means the default
	}
	if p.OnRecall() {
		names = append(names, "recall")
	}
	if p.OnGet() {
		names = append(names, "get")
	}
	return names
}

// isHeader reports whether line is a header: a JSON object with the header's member.
// Memory lines are mostly embedding; the byte search keeps them from being parsed twice.
func isHeader(line []byte) bool {
	if !bytes.Contains(line, []byte(`"`+headerKey+`"`)) {
		return false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(line, &members) != nil {
		return false
	}
	_, ok := members[headerKey]
	return ok
}

// parseHeader decodes and checks a header line (isHeader said it is one).
func parseHeader(line []byte) (*Header, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(line, &members); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	var version int
	if err := json.Unmarshal(members[headerKey], &version); err != nil || version < 1 {
		return nil, fmt.Errorf("%w: format version %s is not a positive whole number", ErrHeader, members[headerKey])
	}
	if version > FormatVersion {
		return nil, fmt.Errorf("%w: format version %d is newer than this reader's %d (written by a newer engram)", ErrHeader, version, FormatVersion)
	}
	var w wireHeader
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, humanize(err))
	}
	h := &Header{Version: version, Space: w.Space}
	s, err := w.Settings.settings()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	if w.Dim < 0 || w.Dim > 1<<20 {
		return nil, fmt.Errorf("%w: dimension %d out of range", ErrHeader, w.Dim)
	}
	s.Dim = w.Dim
	h.Settings = s
	return h, nil
}

// settings converts and checks the wire form. Value ranges (M, watermarks, ...) are the
// store's to judge when the settings are used; this checks what the format defines.
func (w wireSettings) settings() (engram.SpaceSettings, error) {
	var s engram.SpaceSettings
	var ok bool
	if s.Index, ok = lookup(indexNames, w.Index); !ok {
		return s, fmt.Errorf("unknown index %q (auto, flat or hnsw)", w.Index)
	}
	for _, n := range []int{w.HNSW.M, w.HNSW.EfConstruction, w.HNSW.EfSearch, w.HNSW.Threshold} {
		if n < 1 || n > math.MaxInt32 {
			return s, fmt.Errorf("HNSW parameter %d out of range", n)
		}
	}
	s.M, s.EfConstruction, s.EfSearch, s.HNSWThreshold = w.HNSW.M, w.HNSW.EfConstruction, w.HNSW.EfSearch, w.HNSW.Threshold
	s.ConfidenceWeight = w.ConfidenceWeight
	if len(w.Embedder) > maxEmbedderName {
		return s, fmt.Errorf("embedder name of %d bytes exceeds %d", len(w.Embedder), maxEmbedderName)
	}
	s.Embedder = w.Embedder
	if t := w.Tiering; t != nil {
		p := tier.Policy{HotCapacity: t.HotCapacity, HighWatermark: float64(t.HighWatermark), LowWatermark: float64(t.LowWatermark),
			MaxPerCycle: t.MaxPerCycle, BatchSize: t.BatchSize}
		if t.HotCapacity < 1 || t.HotCapacity > math.MaxInt32 || t.MaxPerCycle < 0 || t.MaxPerCycle > math.MaxInt32 ||
			t.BatchSize < 0 || t.BatchSize > math.MaxInt32 {
			return s, fmt.Errorf("tiering sizes out of range")
		}
		var err error
		if p.ActivationHalfLife, err = duration("activation_half_life_seconds", t.ActivationHalfLife); err != nil {
			return s, err
		}
		if p.WarmIdle, err = duration("warm_idle_seconds", t.WarmIdle); err != nil {
			return s, err
		}
		if p.Backpressure, ok = lookup(modeNames, t.Backpressure); !ok {
			return s, fmt.Errorf("unknown backpressure %q (block or fail-fast)", t.Backpressure)
		}
		p.Promote = tier.PromoteNever
		for _, name := range t.Promote {
			var bit tier.Promotion
			switch name {
			case "recall":
				bit = tier.PromoteOnRecall
			case "get":
				bit = tier.PromoteOnGet
			default:
				return s, fmt.Errorf("unknown promotion %q (recall or get)", name)
			}
			p.Promote = p.Promote&^tier.PromoteNever | bit
		}
		if t.Promote == nil {
			return s, errors.New("tiering without promote (an empty list means never)")
		}
		s.Tiering = p
	}
	if d := w.Decay; d != nil {
		var err error
		dec := tier.Decay{Exponent: float64(d.Exponent), Floor: d.Floor, RecencyBoost: d.RecencyBoost}
		if dec.Kind, ok = lookup(decayNames, d.Kind); !ok {
			return s, fmt.Errorf("unknown decay %q (exponential or power-law)", d.Kind)
		}
		if dec.HalfLife, err = duration("half_life_seconds", d.HalfLife); err != nil {
			return s, err
		}
		if dec.Scale, err = duration("scale_seconds", d.Scale); err != nil {
			return s, err
		}
		s.Decay = dec
	}
	return s, nil
}

// maxEmbedderName bounds an embedder's name, as the store does.
const maxEmbedderName = 1024

// duration converts a header's seconds, bounded as the store bounds them (uint32).
func duration(name string, sec int64) (time.Duration, error) {
	if sec < 0 || sec > math.MaxUint32 {
		return 0, fmt.Errorf("%s %d out of range (0 to %d)", name, sec, uint32(math.MaxUint32))
	}
	return time.Duration(sec) * time.Second, nil
}

// lookup finds the key whose name is name.
func lookup[K comparable](names map[K]string, name string) (K, bool) {
	for k, n := range names {
		if n == name {
			return k, true
		}
	}
	var zero K
	return zero, false
}
