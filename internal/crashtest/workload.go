// Package crashtest is engram's crash harness: a child process writes through every write
// path (BatchRemember, concurrent unary Remember, a stream, bulk updates, forgets) and logs
// each acknowledged operation to an fsync'd side log; the parent kills it with SIGKILL at
// a random moment, reopens the store and checks the durability promise against the log.
//
// Every memory is a pure function of its ID (content and embedding are derived from it), so
// the parent can check stored data byte for byte without the child telling it anything but
// which operations were acknowledged.
package crashtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
	"github.com/engram-go/engram/vector"
)

// Spaces written by the child: exact index, graph index, unary writes, stream, a tiered
// space whose small hot tier keeps migration busy (demotions, warm memories going cold at
// once — their stamps are years old — and promotions of recalled ones), and a tiered
// space whose warm tier only grows (demotions into its warm index, promotions out of it),
// so kills land in the middle of migration batches too. A goroutine snapshots the indexes
// all the while, so kills land in snapshots as well.
var spaces = []struct {
	name string
	kind engram.IndexKind
	opts []engram.SpaceOption
}{
	{"batch", engram.IndexFlat, nil},
	{"graph", engram.IndexHNSW, nil},
	{"unary", engram.IndexFlat, nil},
	{"stream", engram.IndexFlat, nil},
	{"tiered", engram.IndexAuto, []engram.SpaceOption{engram.WithTiering(tier.Policy{
		HotCapacity: 200, WarmIdle: time.Second, MaxPerCycle: 300, BatchSize: 60})}},
	{"warm", engram.IndexAuto, []engram.SpaceOption{engram.WithTiering(tier.Policy{
		HotCapacity: 100, MaxPerCycle: 300, BatchSize: 60})}},
}

// batchSpaces take the batches, in turn; recallSpaces also get recalls of earlier
// memories after each of their batches (promotions for the migrator).
var (
	batchSpaces  = []string{"batch", "graph", "tiered", "warm"}
	recallSpaces = map[string]tier.Set{"tiered": tier.All, "warm": tier.Default}
	snapSpaces   = []string{"graph", "tiered", "warm"}
)

const batchSize = 50

// memoryFor derives the memory with the given ID: the same bytes every time.
func memoryFor(id string, dim int) engram.Memory {
	h := fnv.New64a()
	h.Write([]byte(id))
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	e := make([]float32, dim)
	for i := range e {
		e[i] = float32(r.NormFloat64())
	}
	vector.Normalize(e) // a Gaussian vector: never zero, so never an error
	return engram.Memory{
		ID:        id,
		Content:   fmt.Sprintf("memory %s: %s", id, strings.Repeat("payload ", 1+int(seed%40))),
		Embedding: e,
		Metadata:  map[string]string{"batch": batchOf(id)},
		CreatedAt: time.Unix(1_700_000_000+int64(seed%1_000_000), 0),
	}
}

// batchOf returns the batch an ID belongs to ("" for unary and stream memories).
func batchOf(id string) string {
	if i := strings.LastIndexByte(id, '-'); i > 0 && strings.Contains(id[:i], "-b") {
		return id[:i]
	}
	return ""
}

// confFor is the confidence the update of round r gives id.
func confFor(id string, r int) float32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", id, r)
	return float32(h.Sum32()%1000) / 1000
}

// ackLog appends one line per acknowledged (or intended) operation and fsyncs it before
// returning, so a line on disk proves the acknowledgement happened before the kill.
type ackLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func openLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &ackLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (l *ackLog) write(lines ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range lines {
		l.w.WriteString(s)
		l.w.WriteByte('\n')
	}
	if err := l.w.Flush(); err != nil {
		return err
	}
	return l.f.Sync()
}

// ChildConfig configures the writing child.
type ChildConfig struct {
	Store string // store file
	Log   string // side log
	Dim   int
	Run   int // run number: makes IDs of different runs distinct
	// CloseAt, when > 0, makes the child close its store after that long, with its writers
	// still writing, then wait to be killed: the kill lands during or after Close.
	CloseAt time.Duration
}

// RunChild writes until killed (or until ctx ends). It never returns nil on its own.
func RunChild(ctx context.Context, c ChildConfig) error {
	st, err := engram.Open(c.Store, engram.WithLockTimeout(10*time.Second), engram.WithMigrateInterval(20*time.Millisecond))
	if err != nil {
		return err
	}
	defer st.Close()
	log, err := openLog(c.Log)
	if err != nil {
		return err
	}
	w := &child{cfg: c, log: log, sp: map[string]*engram.Space{}, errc: make(chan error, 4),
		r: rand.New(rand.NewPCG(uint64(c.Run), 7))}
	for _, s := range spaces {
		opts := append([]engram.SpaceOption{engram.WithDimension(c.Dim), engram.WithIndex(s.kind)}, s.opts...)
		if w.sp[s.name], err = st.Space(ctx, s.name, opts...); err != nil {
			return err
		}
	}
	for g := 0; g < 8; g++ { // unary Remember from 8 goroutines: group commit under fire
		go w.run(func() error { return w.unary(ctx, g) })
	}
	go w.run(func() error { return w.stream(ctx) })
	go w.run(func() error { return w.batches(ctx) })
	go w.run(func() error { return w.snapshots(ctx) })
	var closeAt <-chan time.Time
	if c.CloseAt > 0 {
		closeAt = time.After(c.CloseAt)
	}
	closing := false
	for {
		select {
		case err := <-w.errc:
			if closing {
				continue // a writer stopped because the store closed (CLOSED), as it should
			}
			return err
		case <-closeAt:
			// Close with the writers still writing; the parent's kill lands during or
			// after it. Whatever was acknowledged must survive either way.
			closing, closeAt = true, nil
			if err := st.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "child: Close:", err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// child is the writing child's state shared by its goroutines.
type child struct {
	cfg  ChildConfig
	log  *ackLog
	sp   map[string]*engram.Space
	errc chan error
	r    *rand.Rand // used by the batches goroutine only

	mu    sync.Mutex
	acked []string // space/id pairs acknowledged in this run, for updates and forgets
}

// run runs one of the child's goroutines and reports its end (each ends only on an
// error).
func (w *child) run(fn func() error) { w.errc <- fn() }

func (w *child) acknowledge(space, id string) {
	w.mu.Lock()
	w.acked = append(w.acked, space+"/"+id)
	w.mu.Unlock()
}

// unary remembers one memory at a time, logging each acknowledgement.
func (w *child) unary(ctx context.Context, g int) error {
	for i := 0; ; i++ {
		id := fmt.Sprintf("u%d-w%d-%d", w.cfg.Run, g, i)
		if _, err := w.sp["unary"].Remember(ctx, memoryFor(id, w.cfg.Dim)); err != nil {
			return fmt.Errorf("remember %s: %w", id, err)
		}
		if err := w.log.write("A unary " + id); err != nil {
			return err
		}
		w.acknowledge("unary", id)
	}
}

// stream sends memories into a stream and logs its acknowledgements.
func (w *child) stream(ctx context.Context) error {
	s := w.sp["stream"].NewStream(engram.StreamOptions{QueueSize: 256, MaxItems: 64, MaxDelay: 2 * time.Millisecond})
	go w.run(func() error {
		for a := range s.Acks() {
			if a.Err != nil {
				return fmt.Errorf("stream ack: %w", a.Err)
			}
			if err := w.log.write("A stream " + a.ID); err != nil {
				return err
			}
			w.acknowledge("stream", a.ID)
		}
		return errors.New("stream acks closed")
	})
	for i := 0; ; i++ {
		if _, err := s.Send(ctx, memoryFor(fmt.Sprintf("s%d-%d", w.cfg.Run, i), w.cfg.Dim)); err != nil {
			return err
		}
	}
}

// batches stores batches round robin over the batch spaces, with recalls across tiers,
// bulk updates and forgets of earlier acknowledged memories in between.
func (w *child) batches(ctx context.Context) error {
	for b := 0; ; b++ {
		space := batchSpaces[b%len(batchSpaces)]
		mems := make([]engram.Memory, batchSize)
		for i := range mems {
			mems[i] = memoryFor(fmt.Sprintf("%s%d-b%d-%d", space[:1], w.cfg.Run, b, i), w.cfg.Dim)
		}
		res, err := w.sp[space].BatchRemember(ctx, mems)
		if err != nil || res.Failed > 0 {
			return fmt.Errorf("batch: %v %v", err, res.Err())
		}
		if err := w.log.write(fmt.Sprintf("B %s %s-b%d %d", space, fmt.Sprintf("%s%d", space[:1], w.cfg.Run), b, batchSize)); err != nil {
			return err
		}
		for _, m := range mems {
			w.acknowledge(space, m.ID)
		}
		if tiers, ok := recallSpaces[space]; ok { // promotions for the migrator
			n := len(batchSpaces)
			for i := 0; i < 5; i++ {
				earlier := w.r.IntN(b/n+1)*n + b%n // a batch of this space, of this run
				m := memoryFor(fmt.Sprintf("%s%d-b%d-%d", space[:1], w.cfg.Run, earlier, w.r.IntN(batchSize)), w.cfg.Dim)
				if _, err := w.sp[space].Recall(ctx, engram.Query{Embedding: m.Embedding, K: 3, Tiers: tiers}); err != nil {
					return fmt.Errorf("%s recall: %w", space, err)
				}
			}
		}
		if b%3 == 2 {
			if err := w.update(ctx, b); err != nil {
				return err
			}
		}
		if b%5 == 4 {
			if err := w.forget(ctx); err != nil {
				return err
			}
		}
	}
}

// snapshots saves the graph and warm indexes of the spaces that have them, over and over.
func (w *child) snapshots(ctx context.Context) error {
	for {
		for _, space := range snapSpaces {
			if err := w.sp[space].Snapshot(ctx); err != nil {
				return fmt.Errorf("snapshot %s: %w", space, err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// update changes the confidence of 20 earlier acknowledged memories, logging the intent
// before and the acknowledgement after.
func (w *child) update(ctx context.Context, b int) error {
	w.mu.Lock()
	pick := make([]string, 0, 20)
	for i := 0; i < 20 && len(w.acked) > 0; i++ {
		pick = append(pick, w.acked[w.r.IntN(len(w.acked))])
	}
	w.mu.Unlock()
	bySpace := map[string][]engram.Update{}
	var intents, acks []string
	for _, p := range pick {
		space, id, _ := strings.Cut(p, "/")
		conf := confFor(id, b)
		bySpace[space] = append(bySpace[space], engram.Update{ID: id, Patch: engram.Patch{Confidence: &conf}})
		intents = append(intents, fmt.Sprintf("c %s %s %g", space, id, conf))
		acks = append(acks, fmt.Sprintf("C %s %s %g", space, id, conf))
	}
	if err := w.log.write(intents...); err != nil {
		return err
	}
	for space, ups := range bySpace {
		if _, err := w.sp[space].BatchUpdate(ctx, dedupUpdates(ups)); err != nil {
			return fmt.Errorf("update: %w", err)
		}
	}
	return w.log.write(acks...)
}

// forget forgets 5 earlier acknowledged memories, logging the intent before and the
// acknowledgement after.
func (w *child) forget(ctx context.Context) error {
	w.mu.Lock()
	var victims []string
	for i := 0; i < 5 && len(w.acked) > 0; i++ {
		j := w.r.IntN(len(w.acked))
		victims = append(victims, w.acked[j])
		w.acked[j] = w.acked[len(w.acked)-1]
		w.acked = w.acked[:len(w.acked)-1]
	}
	w.mu.Unlock()
	var intents, acks []string
	for _, v := range victims {
		space, id, _ := strings.Cut(v, "/")
		intents = append(intents, fmt.Sprintf("f %s %s", space, id))
		acks = append(acks, fmt.Sprintf("F %s %s", space, id))
	}
	if err := w.log.write(intents...); err != nil {
		return err
	}
	for _, v := range victims {
		space, id, _ := strings.Cut(v, "/")
		if _, err := w.sp[space].Forget(ctx, id); err != nil {
			return fmt.Errorf("forget: %w", err)
		}
	}
	return w.log.write(acks...)
}

// dedupUpdates keeps the last update per ID (a batch may not name an ID twice).
func dedupUpdates(ups []engram.Update) []engram.Update {
	last := map[string]int{}
	for i, u := range ups {
		last[u.ID] = i
	}
	out := ups[:0:0]
	for i, u := range ups {
		if last[u.ID] == i {
			out = append(out, u)
		}
	}
	return out
}
