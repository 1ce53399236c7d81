package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// spacesCmd is `engram spaces --path STORE [--json]`: one row per space.
type spacesCmd struct {
	Path string `required:"" help:"Store file."`
	JSON bool   `name:"json" help:"One JSON object per space, one per line."`
}

// spaceRow is what `engram spaces` shows of a space.
type spaceRow struct {
	Name     string `json:"name"`
	Dim      int    `json:"dim"`
	Memories int    `json:"memories"`
	Hot      int64  `json:"hot"`
	Warm     int64  `json:"warm"`
	Cold     int64  `json:"cold"`
	// Index is the index in use ("flat" or "hnsw"), Choice the configured choice.
	Index  string `json:"index"`
	Choice string `json:"index_choice"`
	// HotCapacity is the tiering policy's, 0 without tiering.
	HotCapacity int    `json:"hot_capacity"`
	Decay       string `json:"decay"`
}

func (c *spacesCmd) Run() error {
	store, err := openExisting(c.Path, false)
	if err != nil {
		return err
	}
	defer store.Close()
	st := store.Stats()
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		for _, s := range st.Spaces {
			if err := enc.Encode(rowOf(store, s)); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Printf("%s: %s, %s\n", c.Path, bytesize(st.FileBytes), plural(len(st.Spaces), "space"))
	if len(st.Spaces) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SPACE\tDIM\tMEMORIES\tHOT\tWARM\tCOLD\tINDEX\tHOT CAPACITY\tDECAY")
	for _, s := range st.Spaces {
		r := rowOf(store, s)
		capacity := "-"
		if r.HotCapacity > 0 {
			capacity = fmt.Sprint(r.HotCapacity)
		}
		index := r.Index
		if r.Choice != r.Index {
			index += " (" + r.Choice + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Name, r.Dim, r.Memories, r.Hot, r.Warm, r.Cold, index, capacity, r.Decay)
	}
	return tw.Flush()
}

func rowOf(store *engram.Store, s engram.SpaceStats) spaceRow {
	r := spaceRow{Name: s.Name, Dim: s.Dim, Memories: s.Len, Hot: s.Tiers[tier.Hot], Warm: s.Tiers[tier.Warm],
		Cold: s.Tiers[tier.Cold], Index: s.Index, Choice: s.Index, Decay: "-"}
	if sp, err := store.LookupSpace(s.Name); err == nil {
		set := sp.Settings()
		r.Choice, r.HotCapacity = set.Index.String(), set.Tiering.HotCapacity
		if d := set.Decay; d.Kind != tier.NoDecay {
			r.Decay = decayString(d)
		}
	}
	return r
}

func decayString(d tier.Decay) string {
	switch d.Kind {
	case tier.Exponential:
		return "exponential, half-life " + dur(d.HalfLife)
	case tier.PowerLaw:
		return fmt.Sprintf("power law, scale %s, exponent %g", dur(d.Scale), d.Exponent)
	}
	return "-"
}

// statsCmd is `engram stats --path STORE --space NAME [--json]`.
type statsCmd struct {
	Path  string `required:"" help:"Store file."`
	Space string `required:"" help:"Space to describe."`
	JSON  bool   `name:"json" help:"Print the statistics (engram.SpaceStats) and settings (engram.SpaceSettings) as one JSON object."`
}

func (c *statsCmd) Run() error {
	store, err := openExisting(c.Path, false)
	if err != nil {
		return err
	}
	defer store.Close()
	sp, err := store.LookupSpace(c.Space)
	if err != nil {
		return err
	}
	st, set := sp.Stats(), sp.Settings()
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Stats    engram.SpaceStats
			Settings engram.SpaceSettings
		}{st, set})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("space", "%s", st.Name)
	row("created", "%s", st.Created.UTC().Format(time.RFC3339))
	row("dimension", "%d (%s)", st.Dim, st.Metric)
	row("memories", "%d: %d hot, %d warm, %d cold", st.Len, st.Tiers[tier.Hot], st.Tiers[tier.Warm], st.Tiers[tier.Cold])
	row("index", "%s (choice %s, graph M %d, efConstruction %d, efSearch %d, auto switch at %d)",
		st.Index, set.Index, set.M, set.EfConstruction, set.EfSearch, set.HNSWThreshold)
	row("index size", "%d vectors, about %s in memory, loaded from %s", st.IndexLen, bytesize(st.IndexBytes), orDash(st.IndexLoadedFrom))
	row("confidence weight", "%g", set.ConfidenceWeight)
	if p := set.Tiering; p.HotCapacity > 0 {
		row("tiering", "hot capacity %d (watermarks %.2g / %.2g), activation half-life %s, warm idle %s, promote %s, backpressure %s",
			p.HotCapacity, p.HighWatermark, p.LowWatermark, dur(p.ActivationHalfLife), durOrNever(p.WarmIdle), promotion(p.Promote), p.Backpressure)
		row("hot tier", "%s, %s of warm codes in memory", st.Tiering.State, bytesize(st.Tiering.WarmBytes))
	} else {
		row("tiering", "off")
	}
	if set.Decay.Kind != tier.NoDecay {
		d := set.Decay
		row("decay", "%s, floor %g, recency boost %g", decayString(d), d.Floor, d.RecencyBoost)
	} else {
		row("decay", "off")
	}
	if set.Embedder != "" {
		row("embedder", "%s (vectors of text memories and queries; the CLI attaches none)", set.Embedder)
	}
	if st.DamagedRecords > 0 {
		row("damaged records", "%d (run 'engram check')", st.DamagedRecords)
	}
	return tw.Flush()
}

func promotion(p tier.Promotion) string {
	var on []string
	if p.OnRecall() {
		on = append(on, "on recall")
	}
	if p.OnGet() {
		on = append(on, "on get")
	}
	if len(on) == 0 {
		return "never"
	}
	return strings.Join(on, " and ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func durOrNever(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return dur(d)
}

// dur renders a whole-second duration compactly: 168h0m0s → 7d, 90m → 1h30m.
func dur(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// plural renders n things: "1 space", "3 spaces".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	if y, ok := strings.CutSuffix(thing, "y"); ok {
		return fmt.Sprintf("%d %sies", n, y)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// bytesize renders a byte count in binary units.
func bytesize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
