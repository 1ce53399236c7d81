package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// queryCmd is `engram query --path STORE --space NAME (--vector JSON | --like ID) [-k 10]
// [--where key=value ...]`: Recall on a store opened read-only (recalls there update no
// access statistics on disk), printed as a table or JSON Lines.
//
// The cue comes from exactly one source (cue): a vector, or a stored memory's embedding.
// A text cue (--text, embedded by the space's embedder) is one more case there.
type queryCmd struct {
	Path   string        `required:"" help:"Store file."`
	Space  string        `required:"" help:"Space to search."`
	Vector string        `help:"The cue as a JSON array of numbers ('[0.1,-0.2,...]'), or @FILE to read it from a file (@- for standard input)." placeholder:"JSON"`
	Like   string        `help:"The cue is the embedding of the stored memory with this ID; the memory itself is left out of the hits." placeholder:"ID"`
	Text   string        `help:"The cue as text, embedded by --embedder (which must be the one that made the space's vectors)." placeholder:"TEXT"`
	Embed  embedderFlags `embed:""`

	K             int      `short:"k" default:"10" help:"Hits to return."`
	Where         []string `sep:"none" placeholder:"FILTER" help:"Keep memories a filter matches, in engram's filter text (engram.ParseFilter): 'topic = music', 'cat in (a, b) and not tag = old', 'priority >= 3'. Repeatable; all must hold."`
	Tag           []string `sep:"none" help:"Keep memories with this tag (repeatable; all must hold)."`
	Tiers         string   `help:"Tiers to search: hot, warm, cold (comma-separated) or all. Default: hot, then warm when hot has fewer than k hits."`
	MinSimilarity float32  `default:"0" help:"Drop hits less similar than this (-1 to 1)."`
	Exact         bool     `help:"Scan exhaustively instead of using the graph index."`
	JSON          bool     `name:"json" help:"One JSON object per hit, one per line."`
}

// hitRow is a hit as `engram query --json` prints it (the embedding left out: it is
// most of a memory and rarely what a reader of hits wants).
type hitRow struct {
	Rank       int               `json:"rank"`
	ID         string            `json:"id"`
	Score      float32           `json:"score"`
	Similarity float32           `json:"similarity"`
	Confidence float32           `json:"confidence"`
	Tier       string            `json:"tier"`
	Content    string            `json:"content,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
}

func (c *queryCmd) Run() error {
	q := engram.Query{K: c.K, MinSimilarity: c.MinSimilarity, Exact: c.Exact, Tags: c.Tag}
	if len(c.Where) > 0 {
		where, err := parseWhere(c.Where) // the same filter text as forget --where
		if err != nil {
			return err
		}
		q.Where = where
	}
	if c.Tiers != "" {
		set, err := parseTiers(c.Tiers)
		if err != nil {
			return err
		}
		q.Tiers = set
	}
	if n := btoi(c.Vector != "") + btoi(c.Like != "") + btoi(c.Text != ""); n != 1 {
		return usagef("give the cue with exactly one of --vector, --like and --text")
	}
	if (c.Text != "") != (c.Embed.Embedder != "") {
		return usagef("--text and --embedder go together")
	}
	if c.K < 1 {
		return usagef("-k %d: want at least 1", c.K)
	}
	ctx := context.Background()
	store, err := openExisting(c.Path, false)
	if err != nil {
		return err
	}
	defer store.Close()
	sp, err := store.LookupSpace(c.Space)
	if err != nil {
		return err
	}
	if c.Text != "" {
		e, err := c.Embed.build(ctx, sp.Dim())
		if err != nil {
			return err
		}
		if sp, err = store.Space(ctx, c.Space, engram.WithEmbedder(e)); err != nil {
			return err // another embedder made the space's vectors, say
		}
		q.Text = c.Text
	}
	cue, exclude, err := c.cue(ctx, sp)
	if err != nil {
		return err
	}
	q.Embedding = cue
	if exclude != "" {
		q.K++ // the memory itself is the nearest: ask for one more
	}
	hits, err := sp.Recall(ctx, q)
	if err != nil {
		return err
	}
	rows := make([]hitRow, 0, len(hits))
	for _, h := range hits {
		if h.Memory.ID == exclude || len(rows) == c.K {
			continue
		}
		rows = append(rows, hitRow{Rank: len(rows) + 1, ID: h.Memory.ID, Score: h.Score, Similarity: h.Similarity,
			Confidence: h.Confidence, Tier: h.Memory.Tier.String(), Content: h.Memory.Content,
			CreatedAt: h.Memory.CreatedAt.UTC(), Metadata: h.Memory.Metadata, Tags: h.Memory.Tags})
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rows) == 0 {
		fmt.Println("no hits")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tSCORE\tSIMILARITY\tTIER\tID\tCONTENT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\t%s\t%s\t%s\n", r.Rank, r.Score, r.Similarity, r.Tier, r.ID, oneLine(r.Content, 60))
	}
	return tw.Flush()
}

// cue returns the query's embedding and the ID of a memory to leave out of the hits (the
// one the cue was taken from), from whichever source the flags name.
func (c *queryCmd) cue(ctx context.Context, sp *engram.Space) ([]float32, string, error) {
	switch {
	case c.Vector != "":
		raw := []byte(c.Vector)
		if name, ok := strings.CutPrefix(c.Vector, "@"); ok {
			var err error
			if name == "-" {
				raw, err = io.ReadAll(os.Stdin)
			} else {
				raw, err = os.ReadFile(name)
			}
			if err != nil {
				return nil, "", err
			}
		}
		var v []float32
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, "", usagef("--vector: want a JSON array of numbers: %v", err)
		}
		return v, "", nil
	case c.Like != "":
		m, err := sp.Get(ctx, c.Like)
		if err != nil {
			return nil, "", err
		}
		return m.Embedding, m.ID, nil
	case c.Text != "":
		return nil, "", nil // Query.Text: the space's embedder makes the cue
	}
	return nil, "", usagef("no cue")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseTiers parses "hot,warm" or "all" into a tier set.
func parseTiers(s string) (tier.Set, error) {
	if s == "all" {
		return tier.All, nil
	}
	var ts []tier.Tier
	for _, name := range strings.Split(s, ",") {
		t, err := tier.Parse(strings.TrimSpace(name))
		if err != nil {
			return 0, usagef("--tiers %q: want hot, warm, cold (comma-separated) or all", s)
		}
		ts = append(ts, t)
	}
	return tier.Of(ts...), nil
}

// oneLine shortens s to n characters on one line, for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
