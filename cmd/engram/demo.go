package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/embed/hash"
	"github.com/engram-go/engram/synth"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

type demoCmd struct {
	Path    string        `help:"Store file (default: a fresh file in a temporary directory, removed afterwards)."`
	Dim     int           `default:"384" help:"Embedding dimension."`
	Recall  int           `default:"20000" help:"Memories in the space used for the recall step."`
	Budget  time.Duration `default:"1500ms" help:"Time spent measuring each batch size."`
	Chart   string        `default:"engram-batching.svg" help:"Where to write the chart (.svg or .png)."`
	Seed    uint64        `default:"1" help:"Seed of the synthetic data."`
	Texts   int           `default:"10000" help:"Text memories for the text step (embedded by the store)."`
	NoColor bool          `help:"Progress bars without colour."`
}

// The seed's documented batching figures, printed beside ours.
var seedTable = []seedRow{
	{1, 80, 12 * time.Millisecond},
	{10, 280, 35 * time.Millisecond},
	{100, 520, 190 * time.Millisecond},
	{1000, 680, 1470 * time.Millisecond},
}

type seedRow struct {
	size    int
	opsPerS float64
	p99     time.Duration
}

// batchRow is one measured batch size.
type batchRow struct {
	size          int
	calls, items  int
	opsPerS       float64
	p50, p99      time.Duration
	seed          seedRow
	failedBatches int
}

func (d *demoCmd) Run() error {
	// Ctrl-C or SIGTERM ends the demo between two calls, and the deferred calls below close
	// the store and remove its temporary directory: an interrupted demo leaves nothing
	// behind. Further signals meanwhile are absorbed, so the clean-up is not cut short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	path := d.Path
	if path == "" {
		dir, err := os.MkdirTemp("", "engram-demo")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "demo.db")
	}
	store, err := engram.Open(path)
	if err != nil {
		return err
	}
	defer store.Close()
	err = d.steps(ctx, store, path, start)
	if ctx.Err() != nil {
		if d.Path == "" {
			return errors.New("interrupted; the demo's temporary store was removed")
		}
		return errors.New("interrupted")
	}
	return err
}

// steps runs the demo's steps on store, stopping at the first error (or interruption).
func (d *demoCmd) steps(ctx context.Context, store *engram.Store, path string, start time.Time) error {
	gen := synth.New(synth.Config{Seed: d.Seed, Dim: d.Dim})
	fmt.Printf("engram demo — store %s, %d-d synthetic memories (seed %d), every write fsync'd\n\n", path, d.Dim, d.Seed)

	rows, err := d.batchSizes(ctx, store, gen)
	if err != nil {
		return err
	}
	if err := d.partialFailures(ctx, store, gen); err != nil {
		return err
	}
	if err := d.batchers(ctx, store, gen); err != nil {
		return err
	}
	if err := d.stream(ctx, store, gen); err != nil {
		return err
	}
	if err := d.recall(ctx, store, gen); err != nil {
		return err
	}
	if err := d.text(ctx, store, gen); err != nil {
		return err
	}
	printMetrics(store)
	if d.Chart != "" {
		if err := writeChart(d.Chart, rows); err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		abs, _ := filepath.Abs(d.Chart)
		fmt.Printf("\nchart of throughput and latency against batch size: %s\n", abs)
	}
	fmt.Printf("done in %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (d *demoCmd) bar(n int, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("%-28s", what)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionEnableColorCodes(!d.NoColor),
		// A bar redrawn with carriage returns is noise in a log: show it on terminals only.
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))),
	)
}

// batchSizes measures durable BatchRemember at the seed's batch sizes, each in its own
// space on the exact index so that only the batch size differs.
func (d *demoCmd) batchSizes(ctx context.Context, store *engram.Store, gen *synth.Generator) ([]batchRow, error) {
	fmt.Println("1. Batch size: durable BatchRemember, one goroutine (seed's figures beside ours)")
	pool := gen.Batch(4000)
	var rows []batchRow
	bar := d.bar(len(seedTable)*100, "measuring batch sizes")
	for i, sr := range seedTable {
		sp, err := store.Space(ctx, fmt.Sprintf("batch-%d", sr.size), engram.WithIndex(engram.IndexFlat))
		if err != nil {
			return nil, err
		}
		var lat []time.Duration
		row := batchRow{size: sr.size, seed: sr}
		t0 := time.Now()
		for off := 0; time.Since(t0) < d.Budget || row.calls < 5; off += sr.size {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if off+sr.size > len(pool) {
				off = 0
			}
			res, err := sp.BatchRemember(ctx, pool[off:off+sr.size])
			if err != nil {
				row.failedBatches++
				continue
			}
			lat = append(lat, res.Elapsed)
			row.calls++
			row.items += res.Stored
			bar.Set(i*100 + min(99, int(100*time.Since(t0)/d.Budget)))
		}
		el := time.Since(t0)
		row.opsPerS = float64(row.items) / el.Seconds()
		row.p50, row.p99 = quantile(lat, 0.50), quantile(lat, 0.99)
		rows = append(rows, row)
	}
	bar.Finish()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "batch size\tops/s\tp50\tp99\tseed ops/s\tseed p99\tops/s vs seed\tp99 vs seed\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n", r.size, r.opsPerS, ms(r.p50), ms(r.p99),
			r.seed.opsPerS, ms(r.seed.p99), compare(r.opsPerS, r.seed.opsPerS), compare(float64(r.p99), float64(r.seed.p99)))
	}
	tw.Flush()
	fmt.Println("   (ops/s = memories stored per second; latency per BatchRemember call, fsync included)")
	fmt.Println()
	return rows, nil
}

// partialFailures shows per-item codes in a mixed batch, then a whole batch failing with a
// retryable code and its retry.
func (d *demoCmd) partialFailures(ctx context.Context, store *engram.Store, gen *synth.Generator) error {
	fmt.Println("2. Partial failures: bad items fail alone, with stable codes")
	sp, err := store.Space(ctx, "partial", engram.WithDimension(d.Dim))
	if err != nil {
		return err
	}
	batch := gen.Batch(8)
	batch[0].ID = "good-0"
	batch[1].Embedding = batch[1].Embedding[:d.Dim/2] // wrong dimension
	batch[2].Embedding[3] = float32(math.NaN())       // not finite
	batch[3].Confidence = engram.Confidence(1.7)      // out of range
	batch[4].ID, batch[5].ID = "dup", "dup"           // duplicate within the batch
	batch[6].Content = strings.Repeat("x", 2<<20)     // over the 1 MiB content limit
	res, err := sp.BatchRemember(ctx, batch)
	if err != nil {
		return err
	}
	for i, it := range res.Items {
		if it.Err != nil {
			fmt.Printf("   item %d: %-20s retryable=%v\n", i, engram.CodeOf(it.Err), engram.IsRetryable(it.Err))
		} else {
			fmt.Printf("   item %d: stored as %s\n", i, it.ID)
		}
	}
	fmt.Printf("   → %d stored, %d failed, in %s\n", res.Stored, res.Failed, ms(res.Elapsed))

	// A whole batch that fails with a retryable code (its deadline passed before the
	// commit) leaves no trace; resubmitting the retryable items stores them.
	expired, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	second := gen.Batch(5)
	res, _ = sp.BatchRemember(expired, second)
	retry := res.Retryable()
	fmt.Printf("   a batch of %d with an expired deadline: every item %s (retryable), %d stored\n",
		len(second), engram.CodeOf(res.Items[0].Err), res.Stored)
	again := make([]engram.Memory, len(retry))
	for i, j := range retry {
		again[i] = second[j]
	}
	res, err = sp.BatchRemember(ctx, again)
	if err != nil {
		return err
	}
	fmt.Printf("   retrying the %d retryable items: %d stored\n\n", len(retry), res.Stored)
	return nil
}

// batchers shows the time-based and the adaptive batcher fed by many goroutines.
func (d *demoCmd) batchers(ctx context.Context, store *engram.Store, gen *synth.Generator) error {
	fmt.Println("3. Batchers: single memories from 64 goroutines, grouped into batches")
	mems := gen.Batch(6400)
	for _, mode := range []struct {
		name string
		opts engram.BatcherOptions
	}{
		{"time-based (≤ 256 items or 5 ms)", engram.BatcherOptions{MaxItems: 256, MaxDelay: 5 * time.Millisecond}},
		{"adaptive (p99 50–200 ms rule)", engram.BatcherOptions{MaxDelay: 5 * time.Millisecond, Adaptive: &engram.Adaptive{Initial: 16}}},
	} {
		name := strings.Fields(mode.name)[0]
		sp, err := store.Space(ctx, "batcher-"+name, engram.WithIndex(engram.IndexFlat))
		if err != nil {
			return err
		}
		b := sp.NewBatcher(mode.opts)
		var sizes []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		var lat []time.Duration
		t0 := time.Now()
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(mems); i += 64 {
					t := time.Now()
					if _, err := b.Remember(ctx, mems[i]); err != nil {
						if ctx.Err() == nil {
							fmt.Println("   remember:", message(err))
						}
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(t))
					if i%640 == w {
						sizes = append(sizes, b.Size())
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		el := time.Since(t0)
		b.Close()
		if err := ctx.Err(); err != nil {
			return err
		}
		st := sp.Stats().Ops[engram.OpRemember]
		fmt.Printf("   %-34s %6.0f memories/s, %4d batches (mean %.0f items), per-memory latency p50 %s p99 %s\n",
			mode.name, float64(len(mems))/el.Seconds(), st.Calls, st.BatchSize.Mean, ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99)))
		if mode.opts.Adaptive != nil {
			fmt.Printf("   %-34s batch size over time: %s\n", "", compact(sizes))
		}
	}
	fmt.Println()
	return nil
}

// stream pushes memories through a stream with a small queue and fail-fast backpressure.
func (d *demoCmd) stream(ctx context.Context, store *engram.Store, gen *synth.Generator) error {
	fmt.Println("4. Stream: bounded queue, acknowledgements in order, fail-fast backpressure")
	sp, err := store.Space(ctx, "stream", engram.WithIndex(engram.IndexFlat))
	if err != nil {
		return err
	}
	st := sp.NewStream(engram.StreamOptions{QueueSize: 256, MaxItems: 128, Mode: engram.FailFast})
	mems := gen.Batch(5000)
	var acked, inOrder, stored int
	done := make(chan struct{})
	go func() {
		defer close(done)
		next := uint64(0)
		for a := range st.Acks() {
			acked++
			if a.Seq == next {
				inOrder++
			}
			next = a.Seq + 1
			if a.Err == nil {
				stored++
			}
		}
	}()
	refusals := 0
	t0 := time.Now()
	for _, m := range mems {
		for {
			_, err := st.Send(ctx, m)
			var e *engram.Error
			if errors.As(err, &e) && e.Code == engram.CodeBackpressure {
				refusals++
				time.Sleep(e.RetryAfter)
				continue
			}
			if err != nil {
				return err
			}
			break
		}
	}
	st.Close()
	<-done
	fmt.Printf("   %d sent, %d acknowledged (%d in order), %d stored, %d backpressure refusals retried, %.0f memories/s\n\n",
		len(mems), acked, inOrder, stored, refusals, float64(len(mems))/time.Since(t0).Seconds())
	return nil
}

// recall builds an HNSW space and runs BatchRecall, checking recall against exact search.
func (d *demoCmd) recall(ctx context.Context, store *engram.Store, gen *synth.Generator) error {
	fmt.Printf("5. Recall: %d memories on the HNSW graph, BatchRecall of 1000 cues\n", d.Recall)
	sp, err := store.Space(ctx, "recall", engram.WithIndex(engram.IndexHNSW))
	if err != nil {
		return err
	}
	bar := d.bar(d.Recall, "importing (batches of 1000)")
	t0 := time.Now()
	for off := 0; off < d.Recall; off += 1000 {
		res, err := sp.BatchRemember(ctx, gen.Batch(min(1000, d.Recall-off)))
		if err != nil {
			return err
		}
		bar.Add(res.Stored)
	}
	bar.Finish()
	importRate := float64(d.Recall) / time.Since(t0).Seconds()
	qs := make([]engram.Query, 1000)
	topics := make([]string, len(qs))
	for i := range qs {
		cue, topic := gen.Cue()
		qs[i] = engram.Query{Embedding: cue, K: 10, SimilarityOnly: true}
		topics[i] = topic
	}
	t0 = time.Now()
	results, err := sp.BatchRecall(ctx, qs)
	if err != nil {
		return err
	}
	qps := float64(len(qs)) / time.Since(t0).Seconds()
	// Recall@10 against exact search on a sample, and topical precision of the hits.
	var hit, total, onTopic int
	for i := 0; i < 100; i++ {
		exact := qs[i]
		exact.Exact = true
		want, err := sp.Recall(ctx, exact)
		if err != nil {
			return err
		}
		kth := want[len(want)-1].Similarity
		for _, h := range results[i].Hits {
			if h.Similarity >= kth-1e-6 {
				hit++
			}
			if h.Memory.Metadata["topic"] == topics[i] {
				onTopic++
			}
			total++
		}
	}
	top := results[0].Hits[0]
	fmt.Printf("   import %.0f memories/s (graph built in parallel, durable); BatchRecall %.0f queries/s on %d cores\n",
		importRate, qps, maxprocs())
	fmt.Printf("   recall@10 vs exact search %.3f; %.0f%% of hits on the cue's topic\n", float64(hit)/float64(total), 100*float64(onTopic)/float64(total))
	fmt.Printf("   best hit for a %q cue: %.3f %q (confidence %.2f, score %.3f)\n\n", topics[0], top.Similarity, top.Memory.Content, top.Memory.Conf(), top.Score)
	return nil
}

// text stores memories that have only text: the space's embedder (here the offline hash
// embedder) embeds them inside BatchRemember, and a text cue recalls them.
func (d *demoCmd) text(ctx context.Context, store *engram.Store, gen *synth.Generator) error {
	if d.Texts <= 0 {
		return nil
	}
	fmt.Printf("6. Text in: %d memories with content and no embedding, embedded by the store (embed/hash)\n", d.Texts)
	e, err := hash.New(hash.WithDimension(d.Dim))
	if err != nil {
		return err
	}
	sp, err := store.Space(ctx, "notes", engram.WithEmbedder(e), engram.WithIndex(engram.IndexHNSW))
	if err != nil {
		return err
	}
	mems := gen.Batch(d.Texts)
	for i := range mems {
		mems[i].Embedding = nil // text only
	}
	t0 := time.Now()
	res, err := sp.RememberAll(ctx, mems, 1000, 0) // one batch embeds while the one before commits
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	var emb engram.OpStats
	for _, op := range sp.Stats().Ops {
		if op.Op == "embed" {
			emb = op
		}
	}
	inEmbedder := time.Duration(emb.Calls) * emb.Latency.Mean
	fmt.Printf("   embedding: %d texts in %d Embed calls, %s in the embedder (summed over calls, which run in parallel and beside the commits)\n",
		emb.Items, emb.Calls, ms(inEmbedder))
	fmt.Printf("   storing:   %d memories in durable batches of 1000, %s in all (%.0f memories/s, embedding included)\n",
		res.Stored, ms(wall), float64(res.Stored)/wall.Seconds())
	cue := mems[7].Content
	hits, err := sp.Recall(ctx, engram.Query{Text: cue, K: 1})
	if err != nil {
		return err
	}
	fmt.Printf("   Query{Text: %q}\n   → %.3f %q\n\n", oneLine(cue, 60), hits[0].Similarity, oneLine(hits[0].Memory.Content, 60))
	return nil
}

func printMetrics(store *engram.Store) {
	fmt.Println("7. Metrics (Store.Stats; also via expvar and the Prometheus collector)")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "space\top\tcalls\titems\tfailed\tp50\tp99\tmean batch\tindex\t")
	for _, sp := range store.Stats().Spaces {
		for _, op := range sp.Ops {
			if op.Calls == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%.1f\t%s\t\n", sp.Name, op.Op, op.Calls, op.Items, op.Failed,
				ms(op.Latency.P50), ms(op.Latency.P99), op.BatchSize.Mean, sp.Index)
		}
	}
	tw.Flush()
}

// compare says how ours compares with the seed's figure: "same" within 5%, else how many
// times higher or lower (one decimal below 10×). Zero or negative figures compare as "-".
func compare(ours, seed float64) string {
	if !(ours > 0 && seed > 0) {
		return "-"
	}
	times := func(r float64) string {
		if r < 9.95 {
			return fmt.Sprintf("%.1f×", r)
		}
		return fmt.Sprintf("%.0f×", r)
	}
	switch r := ours / seed; {
	case r <= 1.05 && r >= 1/1.05:
		return "same"
	case r > 1:
		return times(r) + " higher"
	default:
		return times(1/r) + " lower"
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[max(0, int(math.Ceil(q*float64(len(s))))-1)]
}

func ms(d time.Duration) string {
	switch {
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f ms", float64(d)/1e6)
}

// compact renders a size trajectory without repeats: 16 → 32 → 64.
func compact(sizes []int) string {
	var parts []string
	for i, s := range sizes {
		if i == 0 || s != sizes[i-1] {
			parts = append(parts, fmt.Sprint(s))
		}
	}
	return strings.Join(parts, " → ")
}
