package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
)

// Config configures a crash test.
type Config struct {
	Dir            string        // where the store and the log live (created)
	Trials         int           // kill/reopen cycles
	Dim            int           // embedding dimension
	MinRun, MaxRun time.Duration // the child is killed after a random time in [MinRun, MaxRun]
	// StartAcks, when > 0, starts that time only once the child has logged this many
	// acknowledgements in the trial (or after a minute without them): on a loaded
	// machine a child that takes long to start would otherwise be killed before it did
	// anything, and the trial would test nothing.
	StartAcks int
	Seed      uint64
	// CloseEvery, when > 0, makes every CloseEvery-th trial's child close its store
	// (Store.Close: draining its stream, saving graph snapshots) at a random moment before
	// the kill, which then lands during or after the Close.
	CloseEvery int
	// Child returns the command that runs RunChild with c for one trial (the CLI
	// re-executes itself; tests re-execute the test binary).
	Child func(c ChildConfig) *exec.Cmd
	// Progress, when set, is called after each trial.
	Progress func(trial int, s Summary)
}

// Summary is the outcome of a crash test; Violations() > 0 means the promise was broken.
type Summary struct {
	Trials          int
	Acknowledged    int // acknowledged memories checked after the last trial
	Lost            int // acknowledged memories missing, or with other content, vector or confidence
	PartialBatches  int // batches present in part
	IndexMismatches int // problems Store.Check found (records vs index vs tiers)
	RecallMisses    int // acknowledged memories an exact recall by their own vector misses
	// ApproxMisses counts acknowledged hot or warm memories the default recall (hot and
	// warm together, approximate) did not return at rank 1 for their own vector while the
	// exact recall did: search quality, reported but not a violation (the graphs'
	// reachability is part of Check).
	ApproxMisses int
	// Closes counts the trials whose child closed its store before the kill.
	Closes  int
	Details []string
}

// Violations counts broken promises.
func (s Summary) Violations() int {
	return s.Lost + s.PartialBatches + s.IndexMismatches + s.RecallMisses
}

func (s Summary) String() string {
	return fmt.Sprintf("crashtest: trials=%d closes=%d acknowledged=%d lost=%d partial_batches=%d index_mismatches=%d recall_misses=%d approx_misses=%d",
		s.Trials, s.Closes, s.Acknowledged, s.Lost, s.PartialBatches, s.IndexMismatches, s.RecallMisses, s.ApproxMisses)
}

func (s *Summary) detail(format string, args ...any) {
	if len(s.Details) < 20 {
		s.Details = append(s.Details, fmt.Sprintf(format, args...))
	}
}

// Run performs the trials, checking the store after each kill. The store and the log
// accumulate across trials, so later trials also re-check what earlier ones wrote.
func Run(c Config) (Summary, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return Summary{}, err
	}
	store, log := filepath.Join(c.Dir, "crash.db"), filepath.Join(c.Dir, "acks.log")
	r := rand.New(rand.NewPCG(c.Seed, 11))
	var sum Summary
	for t := 1; t <= c.Trials; t++ {
		wait := c.MinRun + time.Duration(r.Int64N(int64(c.MaxRun-c.MinRun)+1))
		cc := ChildConfig{Store: store, Log: log, Dim: c.Dim, Run: t}
		if c.CloseEvery > 0 && t%c.CloseEvery == 0 {
			cc.CloseAt = max(time.Millisecond, wait/2+time.Duration(r.Int64N(int64(wait/2)+1))-10*time.Millisecond)
			sum.Closes++
		}
		cmd := c.Child(cc)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return sum, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitForAcks(log, c.StartAcks, exited); err != nil {
			return sum, fmt.Errorf("trial %d: the child exited on its own (%v): %s", t, err, stderr.String())
		}
		select {
		case err := <-exited:
			return sum, fmt.Errorf("trial %d: the child exited on its own (%v): %s", t, err, stderr.String())
		case <-time.After(wait):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		s, err := Verify(store, log, c.Dim)
		if err != nil {
			return sum, fmt.Errorf("trial %d: %w", t, err)
		}
		s.Trials, s.Closes = t, sum.Closes
		sum = s
		if c.Progress != nil {
			c.Progress(t, sum)
		}
		if sum.Violations() > 0 {
			break // the store now differs from the log; later trials would only repeat it
		}
	}
	return sum, nil
}

// waitForAcks returns once the log at path has n more lines than when it was called, or
// after a minute, or with the child's exit error if it exits meanwhile (which it never
// does on its own: the caller reports it and ends the run).
func waitForAcks(path string, n int, exited chan error) error {
	if n <= 0 {
		return nil
	}
	// Created here if this is the first trial: the child appends to it (openLog).
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil // the kill window opens now, as without StartAcks; Verify reports the log
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekEnd); err != nil { // count only this trial's lines
		return nil
	}
	buf := make([]byte, 64<<10)
	seen, deadline := 0, time.Now().Add(time.Minute)
	for seen < n && time.Now().Before(deadline) {
		k, _ := f.Read(buf) // only what the child appended since the last read
		seen += bytes.Count(buf[:k], []byte{'\n'})
		if k > 0 {
			continue
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%v, before %d acknowledgements", err, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// expected is what the log says must (and may) be in the store.
type expected struct {
	present   map[string]string    // space/id → space: acknowledged, not forgotten
	forgot    map[string]bool      // forget acknowledged
	mayForget map[string]bool      // forget intended, not acknowledged: may be absent
	base      map[string]float32   // last acknowledged confidence
	intents   map[string][]float32 // confidences intended since: any may have landed
}

func readLog(path string) (*expected, error) {
	e := &expected{present: map[string]string{}, forgot: map[string]bool{}, mayForget: map[string]bool{},
		base: map[string]float32{}, intents: map[string][]float32{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil // killed before the first acknowledgement
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue // a torn last line: that acknowledgement was not complete
		}
		key := fs[1] + "/" + fs[2]
		switch fs[0] {
		case "A": // one memory acknowledged
			e.present[key] = fs[1]
		case "B": // a batch acknowledged: fs[2] is its ID prefix, fs[3] its size
			if len(fs) < 4 {
				continue
			}
			n, _ := strconv.Atoi(fs[3])
			for i := 0; i < n; i++ {
				e.present[fmt.Sprintf("%s/%s-%d", fs[1], fs[2], i)] = fs[1]
			}
		case "c", "C":
			if len(fs) < 4 {
				continue
			}
			v, _ := strconv.ParseFloat(fs[3], 32)
			if fs[0] == "C" {
				e.base[key], e.intents[key] = float32(v), nil
			} else {
				e.intents[key] = append(e.intents[key], float32(v))
			}
		case "f":
			e.mayForget[key] = true
		case "F":
			delete(e.present, key)
			delete(e.mayForget, key)
			e.forgot[key] = true
		}
	}
	return e, sc.Err()
}

// confAllowed reports whether c is a confidence the memory may have after the crash: the
// last acknowledged one, or any intended since (its update may have committed unlogged).
func (e *expected) confAllowed(key string, c float32) bool {
	base, ok := e.base[key]
	if !ok {
		base = engram.DefaultConfidence
	}
	return c == base || slices.Contains(e.intents[key], c)
}

// Verify opens the store after a crash and checks it against the log.
func Verify(store, log string, dim int) (Summary, error) {
	ctx := context.Background()
	exp, err := readLog(log)
	if err != nil {
		return Summary{}, err
	}
	// No background migration while checking: a memory must stay in the tier Get saw.
	st, err := engram.Open(store, engram.WithLockTimeout(10*time.Second), engram.WithMigrateInterval(0))
	if err != nil {
		return Summary{}, fmt.Errorf("reopen after SIGKILL: %w", err)
	}
	defer st.Close()
	var sum Summary

	// The index holds exactly the stored memories; records, ID map and tiers agree.
	rep, err := st.Check(ctx)
	if err != nil {
		return sum, err
	}
	for _, p := range rep.Problems {
		sum.IndexMismatches++
		sum.detail("check: %s", p)
	}
	for _, sc := range rep.Spaces {
		sum.IndexMismatches += sc.ProblemCount
		for _, p := range sc.Problems {
			sum.detail("check %s: %s", sc.Name, p)
		}
	}
	if err := sum.checkAcknowledged(ctx, st, exp, dim); err != nil {
		return sum, err
	}
	return sum, sum.checkBatches(ctx, st, rep, exp)
}

// checkAcknowledged checks that every acknowledged memory is present, identical, and
// recalled by its own vector.
func (sum *Summary) checkAcknowledged(ctx context.Context, st *engram.Store, exp *expected, dim int) error {
	const coldSample = 16
	coldSeen := 0
	for key, space := range exp.present {
		_, id, _ := strings.Cut(key, "/")
		sp, err := st.LookupSpace(space)
		if err != nil {
			return err
		}
		m, err := sp.Get(ctx, id)
		if err != nil {
			if exp.mayForget[key] && errors.Is(err, engram.ErrNotFound) {
				continue
			}
			sum.Lost++
			sum.detail("acknowledged %s: %v", key, err)
			continue
		}
		sum.Acknowledged++
		want := memoryFor(id, dim)
		// What the store stores: its own normalization of what was written (which keeps a
		// vector already of unit length bit for bit, as memoryFor's are).
		vector.NormalizeBatch(want.Embedding, dim, nil, nil)
		if m.Content != want.Content || !slices.Equal(m.Embedding, want.Embedding) || !exp.confAllowed(key, m.Conf()) {
			sum.Lost++
			sum.detail("acknowledged %s differs from what was written (confidence %v)", key, m.Conf())
			continue
		}
		// Hot and warm memories are recalled by the default query (both tiers together),
		// cold ones from the cold tier. A cold recall scans every cold record, so cold
		// memories are sampled (1 in coldSample, by sequence of appearance): checking each
		// would make a trial's cost grow with the square of the store.
		tiers := tier.Default
		if m.Tier == tier.Cold {
			if coldSeen++; coldSeen%coldSample != 0 {
				continue
			}
			tiers = tier.Of(tier.Cold)
		}
		atRank1 := func(exact bool) (bool, error) {
			tiers := tiers // the exact fallback, rarely needed, searches every tier
			if exact {
				tiers = tier.All
			}
			hits, err := sp.Recall(ctx, engram.Query{Embedding: m.Embedding, K: 1, SimilarityOnly: true, Exact: exact, Tiers: tiers})
			return err == nil && len(hits) == 1 && (hits[0].Memory.ID == id || hits[0].Similarity >= 0.9999), err
		}
		if ok, _ := atRank1(false); !ok {
			if ok, err := atRank1(true); !ok {
				sum.RecallMisses++
				sum.detail("acknowledged %s not recalled at rank 1, even exactly (%v)", key, err)
			} else {
				sum.ApproxMisses++
			}
		}
	}
	return nil
}

// checkBatches checks that a batch is wholly present or wholly absent (less what was
// forgotten since), and that every memory is stored once, in one tier.
func (sum *Summary) checkBatches(ctx context.Context, st *engram.Store, rep engram.CheckReport, exp *expected) error {
	counts := map[string]int{}
	for _, sc := range rep.Spaces {
		sp, err := st.LookupSpace(sc.Name)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for m, err := range sp.All(ctx) {
			if err != nil {
				return err
			}
			if seen[m.ID] || !m.Tier.Valid() {
				sum.IndexMismatches++
				sum.detail("%s/%s listed twice or in no tier (%v)", sc.Name, m.ID, m.Tier)
			}
			seen[m.ID] = true
			if b := batchOf(m.ID); b != "" {
				counts[sc.Name+"/"+b]++
			}
		}
	}
	for key, n := range counts {
		gone, maybe := 0, 0
		for i := 0; i < batchSize; i++ {
			k := fmt.Sprintf("%s-%d", key, i)
			if exp.forgot[k] {
				gone++
			} else if exp.mayForget[k] {
				maybe++
			}
		}
		if n > batchSize-gone || n < batchSize-gone-maybe {
			sum.PartialBatches++
			sum.detail("batch %s: %d of %d memories present (%d forgotten, %d maybe)", key, n, batchSize, gone, maybe)
		}
	}
	return nil
}
