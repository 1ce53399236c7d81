package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/jsonl"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// importCmd is `engram import --path STORE --space NAME FILE|-`: JSON Lines in, through
// BatchRemember (or Restore), into a space. A bad line or a memory the store rejects fails
// alone and is reported; the exit status is 1 when nothing was stored, when a whole batch
// failed (the import then stops there), when the input could not be read, or — with
// --strict — when any line or memory was rejected.
//
// A lossless export (a file that starts with a jsonl header) recreates its space's
// settings when the import creates the space, and is stored with Space.Restore: each
// memory in its tier, with its access statistics (--keep-tiers, on by default for such
// files). A gzip'ed file is recognized by its first bytes.
//
// A failed import leaves no trace: the dimension is checked against the file's header or
// first memory before any space is created, a space the import created but stored nothing
// in is dropped again, and a store file it created is removed.
//
// IDs follow the store's rules: a line whose ID is already stored replaces that memory,
// but an ID repeated within one batch fails with DUPLICATE_ID (the first one is kept), so
// which of two lines with the same ID wins depends on --batch.
type importCmd struct {
	Path      string        `required:"" help:"Store file (created if missing)."`
	Space     string        `required:"" help:"Space to import into (created if missing)."`
	Batch     int           `default:"1000" help:"Memories per transaction (1-100000)."`
	Dim       int           `help:"Embedding dimension for a new space (default: the file's); must match the file and an existing space."`
	KeepTiers *bool         `negatable:"" help:"Keep each memory's tier and access statistics (Space.Restore). Default: on for a lossless export (a file with a header), off otherwise."`
	Strict    bool          `help:"Exit with status 1 if any line or memory was rejected (the others are still imported)."`
	Embed     embedderFlags `embed:""`
	File      string        `arg:"" optional:"" help:"JSON Lines file (one engram.Memory object per line, as 'engram synth' and 'engram export' write; gzip'ed or not), or - for standard input."`

	pgImportFlags `embed:""` // --from postgres://... (pgcmd.go)
}

// maxReported bounds the bad lines and rejected memories printed one by one.
const maxReported = 10

// lineProblem is a line that could not be imported, and why.
type lineProblem struct {
	line int
	err  error
}

// importSummary is what an import did.
type importSummary struct {
	readStats
	stored   int                 // memories stored, replaced ones included
	replaced int                 // stored memories that replaced one with the same ID
	failed   map[engram.Code]int // memories the store rejected, by code
	rejected []lineProblem       // the first maxReported of them, whole-batch failures aside
	// abort is why the import stopped early: a whole batch failed, ctx ended, or the input
	// could not be read. Nothing from line abortLine on was imported; abortItems memories
	// failed with the batch.
	abort      error
	abortLine  int
	abortItems int
	elapsed    time.Duration
}

// readStats is what the decoding goroutine saw.
type readStats struct {
	lines    int           // the last line read
	read     int           // memories decoded
	badLines int           // lines that are not a memory
	bad      []lineProblem // the first maxReported of them
	err      error         // the input failed at line errLine
	errLine  int
}

func (c *importCmd) Run() error {
	if c.From != "" {
		return c.runPostgres()
	}
	if c.File == "" {
		return usagef("give a FILE to import (or - for standard input), or --from")
	}
	if c.Batch < 1 || c.Batch > engram.DefaultLimits.MaxBatch {
		return usagef("--batch %d is outside 1-%d", c.Batch, engram.DefaultLimits.MaxBatch)
	}
	if c.Dim < 0 {
		return usagef("--dim %d is negative", c.Dim)
	}
	in, size, name, err := openInput(c.File)
	if err != nil {
		return err
	}
	defer in.Close()
	// Ctrl-C cancels the batch in flight (it leaves no trace) and ends with the summary.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	bar := newBar(size, "importing "+name, true)
	data, err := decompress(io.TeeReader(in, bar))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	// Before anything is created: the header, and the first memory's dimension.
	src, err := newSource(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := c.checkDim(src); err != nil {
		return err
	}
	embedder, err := c.Embed.build(ctx, c.Dim)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(c.Path)
	newStore := errors.Is(statErr, fs.ErrNotExist)
	store, err := engram.Open(c.Path)
	if err != nil {
		return err
	}
	sp, created, err := c.space(ctx, store, src, embedder)
	if err != nil {
		store.Close()
		c.removeNew(newStore)
		return err
	}
	restore := src.header != nil
	if c.KeepTiers != nil {
		restore = *c.KeepTiers
	}
	sum := importFrom(ctx, sp, src, c.Batch, restore)
	bar.Finish()
	var undone []string
	if sum.stored == 0 && created && !newStore {
		if err := store.DropSpace(context.Background(), c.Space); err == nil {
			undone = append(undone, fmt.Sprintf("space %q, created by this import, was dropped again", c.Space))
		}
	}
	closeErr := store.Close()
	if sum.stored == 0 && c.removeNew(newStore) {
		undone = append(undone, fmt.Sprintf("%s, created by this import, was removed", c.Path))
	}

	fmt.Printf("import of %s into space %q of %s, %s:\n", name, c.Space, c.Path, sum.elapsed.Round(time.Millisecond))
	if h := src.header; h != nil {
		how := "stored as hot memories (--no-keep-tiers)"
		if restore {
			how = "tiers and access statistics kept"
		}
		what := "settings recreated"
		if !created {
			what = "the existing space's settings kept"
		}
		fmt.Printf("  lossless export of space %q (format %d, %d dimensions): %s, %s\n", h.Space, h.Version, h.Settings.Dim, what, how)
		if e := h.Settings.Embedder; e != "" {
			fmt.Printf("  its vectors were made by embedder %q: attach it to the space (engram.WithEmbedder) to remember or query text\n", e)
		}
	}
	sum.print(os.Stdout)
	for _, u := range undone {
		fmt.Println("  undone:     ", u)
	}
	switch {
	case sum.abort != nil:
		return fmt.Errorf("import stopped at line %d: %w", sum.abortLine, sum.abort)
	case closeErr != nil:
		return closeErr
	case sum.stored == 0:
		return errors.New("nothing was imported")
	case c.Strict && (sum.badLines > 0 || sum.rejectedCount() > 0):
		return fmt.Errorf("--strict: %d bad lines and %d rejected memories", sum.badLines, sum.rejectedCount())
	}
	return nil
}

// checkDim compares --dim with the file's dimension (its header's, else its first
// memory's), before anything is created.
func (c *importCmd) checkDim(src *source) error {
	dim, where := src.dim()
	if c.Dim > 0 && dim > 0 && c.Dim != dim {
		return fmt.Errorf("--dim %d disagrees with the file: %s has %d dimensions; nothing was imported", c.Dim, where, dim)
	}
	return nil
}

// space returns the space to import into, creating it (with the header's settings, when
// the file has one) if it does not exist. An existing space's dimension must fit the file
// and --dim.
func (c *importCmd) space(ctx context.Context, store *engram.Store, src *source, embedder engram.Embedder) (*engram.Space, bool, error) {
	dim, where := src.dim()
	if c.Dim > 0 {
		dim, where = c.Dim, "--dim"
	}
	if sp, err := store.LookupSpace(c.Space); err == nil {
		if have := sp.Dim(); have != 0 && dim != 0 && have != dim {
			return nil, false, fmt.Errorf("space %q has %d dimensions, %s %d; nothing was imported", c.Space, have, where, dim)
		}
		if embedder != nil { // attach it (the space checks it is the one that made its vectors)
			sp, err = store.Space(ctx, c.Space, spaceOption(embedder)...)
		}
		return sp, false, err
	} else if engram.CodeOf(err) != engram.CodeSpaceNotFound {
		return nil, false, err
	}
	opts := spaceOption(embedder)
	if src.header != nil {
		opts = src.header.Settings.Options()
	}
	if dim > 0 {
		opts = append(opts, engram.WithDimension(dim))
	}
	sp, err := store.Space(ctx, c.Space, opts...)
	return sp, err == nil, err
}

// removeNew removes the store file when this import created it and stored nothing in it,
// and reports whether it did.
func (c *importCmd) removeNew(newStore bool) bool {
	return newStore && os.Remove(c.Path) == nil
}

// openInput opens path for reading ("-" is standard input) and returns its size when
// known (-1 otherwise) and a name for messages.
func openInput(path string) (io.ReadCloser, int64, string, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), -1, "standard input", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, "", err
	}
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, path, nil
}

// batch is a run of decoded memories with the line each came from.
type batch struct {
	mems  []engram.Memory
	lines []int
}

// importJSONL streams plain JSON Lines from r into sp, size memories per BatchRemember.
func importJSONL(ctx context.Context, sp *engram.Space, r io.Reader, size int) *importSummary {
	src, err := newSource(r)
	if err != nil {
		return &importSummary{abort: err, abortLine: 1, failed: map[engram.Code]int{}}
	}
	return importFrom(ctx, sp, src, size, false)
}

// importFrom streams src into sp, size memories per BatchRemember (per Restore with
// restore). Decoding runs in its own goroutine, one batch ahead, so that it overlaps the
// previous batch's commit.
//
// A whole-batch failure stops the import: what follows would most likely fail the same
// way (a failed commit, Ctrl-C). So does the end of ctx while waiting for input, without
// waiting for the blocked read.
func importFrom(ctx context.Context, sp *engram.Space, src *source, size int, restore bool) *importSummary {
	start := time.Now()
	var (
		mu      sync.Mutex // guards stats, which the decoding goroutine updates
		stats   readStats
		batches = make(chan batch, 1)
		done    = make(chan struct{}) // closed when the import stops early
	)
	go func() {
		defer close(batches)
		var b batch
		send := func() bool {
			select {
			case batches <- b:
				b = batch{}
				return true
			case <-done:
				return false
			}
		}
		for it := range src.items {
			mu.Lock()
			stats.lines = it.line
			var le *jsonl.LineError
			switch {
			case errors.As(it.err, &le):
				stats.badLines++
				if len(stats.bad) < maxReported {
					stats.bad = append(stats.bad, lineProblem{le.Line, le.Err})
				}
			case it.err != nil: // the last thing All yields
				stats.err, stats.errLine = it.err, it.line+1
			default:
				stats.read++
			}
			mu.Unlock()
			if it.err != nil {
				continue
			}
			b.mems = append(b.mems, it.m)
			b.lines = append(b.lines, it.line)
			if len(b.mems) == size && !send() {
				return
			}
		}
		if len(b.mems) > 0 {
			send()
		}
	}()

	sum := &importSummary{failed: make(map[engram.Code]int)}
	committed := 0 // the last line of the last batch handled
loop:
	for {
		var b batch
		select {
		case next, ok := <-batches:
			if !ok {
				break loop
			}
			b = next
		case <-ctx.Done():
			sum.abort, sum.abortLine = ctx.Err(), committed+1
			break loop
		}
		write := sp.BatchRemember
		if restore {
			write = sp.Restore
		}
		res, err := write(ctx, b.mems)
		sum.stored += res.Stored
		for i, it := range res.Items {
			switch {
			case it.Err == nil && it.Replaced:
				sum.replaced++
			case it.Err == nil:
			case err != nil && engram.CodeOf(it.Err) == engram.CodeOf(err):
				sum.failed[engram.CodeOf(it.Err)]++
				sum.abortItems++
			default:
				sum.failed[engram.CodeOf(it.Err)]++
				if len(sum.rejected) < maxReported {
					sum.rejected = append(sum.rejected, lineProblem{b.lines[i], it.Err})
				}
			}
		}
		if err != nil {
			sum.abort, sum.abortLine = err, b.lines[0]
			break loop
		}
		committed = b.lines[len(b.lines)-1]
	}
	close(done)
	mu.Lock()
	sum.readStats = stats
	mu.Unlock()
	if sum.abort == nil && stats.err != nil {
		sum.abort, sum.abortLine = stats.err, stats.errLine
	}
	sum.elapsed = time.Since(start)
	return sum
}

// rejectedCount is how many memories the store refused (whole-batch failures aside).
func (s *importSummary) rejectedCount() int {
	n := 0
	for _, c := range s.failed {
		n += c
	}
	return n - s.abortItems
}

func (s *importSummary) print(w io.Writer) {
	fmt.Fprintf(w, "  lines read:  %d\n", s.lines)
	fmt.Fprintf(w, "  memories:    %d read, %d stored (%d replaced an existing memory)\n", s.read, s.stored, s.replaced)
	failed := 0
	for _, n := range s.failed {
		failed += n
	}
	if failed > 0 {
		codes := slices.SortedFunc(maps.Keys(s.failed), func(a, b engram.Code) int { // most frequent first
			if n := s.failed[b] - s.failed[a]; n != 0 {
				return n
			}
			return int(a) - int(b)
		})
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = fmt.Sprintf("%s %d", c, s.failed[c])
		}
		fmt.Fprintf(w, "  failed:      %d (%s)\n", failed, strings.Join(parts, ", "))
		for _, p := range s.rejected {
			fmt.Fprintf(w, "    line %d: %s\n", p.line, describe(p.err))
		}
		if more := failed - len(s.rejected) - s.abortItems; more > 0 {
			fmt.Fprintf(w, "    ... and %d more\n", more)
		}
	}
	if s.badLines > 0 {
		fmt.Fprintf(w, "  bad lines:   %d\n", s.badLines)
		for _, p := range s.bad {
			if se, ok := p.err.(*jsonl.SyntaxError); ok {
				fmt.Fprintf(w, "    line %d, column %d: %s\n", p.line, se.Column, se.Msg)
				continue
			}
			fmt.Fprintf(w, "    line %d: %v\n", p.line, p.err)
		}
		if more := s.badLines - len(s.bad); more > 0 {
			fmt.Fprintf(w, "    ... and %d more\n", more)
		}
	}
	if s.abort != nil {
		fmt.Fprintf(w, "  stopped:     at line %d, nothing from there on was imported: %v\n", s.abortLine, s.abort)
		if engram.IsRetryable(s.abort) || errors.Is(s.abort, context.Canceled) {
			fmt.Fprintln(w, "               importing again is safe for memories with IDs: a stored ID is replaced, not duplicated")
		}
	}
}

// describe renders a store rejection without the batch position, which means nothing to
// someone looking at the file: "INVALID_EMBEDDING (id "x"): embedding is empty".
func describe(err error) string {
	var e *engram.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(e.Code.String())
	if e.ID != "" {
		fmt.Fprintf(&b, " (id %q)", e.ID)
	}
	if e.Msg != "" {
		b.WriteString(": " + e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// newBar is a progress bar on standard error, shown only when that is a terminal: a bar
// redrawn with carriage returns is noise in a log or a pipe. max -1 draws a spinner.
func newBar(max int64, what string, bytes bool) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))),
	)
}
