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

// Spaces written by the child: exact index, graph index, unary writes, stream, and a
// tiered space whose small hot tier keeps migration busy (demotions, warm memories going
// cold at once — their stamps are years old — and promotions of recalled ones), so kills
// land in the middle of migration batches too.
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
}

// batchSpaces take the batches, in turn.
var batchSpaces = []string{"batch", "graph", "tiered"}

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
	sp := map[string]*engram.Space{}
	for _, s := range spaces {
		opts := append([]engram.SpaceOption{engram.WithDimension(c.Dim), engram.WithIndex(s.kind)}, s.opts...)
		if sp[s.name], err = st.Space(ctx, s.name, opts...); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	var acked []string // space/id pairs acknowledged in this run, for updates and forgets
	remember := func(space, id string) {
		mu.Lock()
		acked = append(acked, space+"/"+id)
		mu.Unlock()
	}
	errc := make(chan error, 4)

	// Unary Remember from 8 goroutines: group commit under fire.
	for w := 0; w < 8; w++ {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("u%d-w%d-%d", c.Run, w, i)
				if _, err := sp["unary"].Remember(ctx, memoryFor(id, c.Dim)); err != nil {
					errc <- fmt.Errorf("remember %s: %w", id, err)
					return
				}
				if err := log.write("A unary " + id); err != nil {
					errc <- err
					return
				}
				remember("unary", id)
			}
		}()
	}
	// A stream.
	go func() {
		s := sp["stream"].NewStream(engram.StreamOptions{QueueSize: 256, MaxItems: 64, MaxDelay: 2 * time.Millisecond})
		go func() {
			for a := range s.Acks() {
				if a.Err != nil {
					errc <- fmt.Errorf("stream ack: %w", a.Err)
					return
				}
				if err := log.write("A stream " + a.ID); err != nil {
					errc <- err
					return
				}
				remember("stream", a.ID)
			}
		}()
		for i := 0; ; i++ {
			if _, err := s.Send(ctx, memoryFor(fmt.Sprintf("s%d-%d", c.Run, i), c.Dim)); err != nil {
				errc <- err
				return
			}
		}
	}()
	// Batches, updates and forgets on the main goroutine.
	r := rand.New(rand.NewPCG(uint64(c.Run), 7))
	go func() {
		for b := 0; ; b++ {
			space := batchSpaces[b%len(batchSpaces)]
			mems := make([]engram.Memory, batchSize)
			for i := range mems {
				mems[i] = memoryFor(fmt.Sprintf("%s%d-b%d-%d", space[:1], c.Run, b, i), c.Dim)
			}
			res, err := sp[space].BatchRemember(ctx, mems)
			if err != nil || res.Failed > 0 {
				errc <- fmt.Errorf("batch: %v %v", err, res.Err())
				return
			}
			if err := log.write(fmt.Sprintf("B %s %s-b%d %d", space, fmt.Sprintf("%s%d", space[:1], c.Run), b, batchSize)); err != nil {
				errc <- err
				return
			}
			for _, m := range mems {
				remember(space, m.ID)
			}
			if space == "tiered" { // recall across tiers: promotions for the migrator
				for i := 0; i < 5; i++ {
					m := memoryFor(fmt.Sprintf("t%d-b%d-%d", c.Run, r.IntN(b+1)/3*3+2, r.IntN(batchSize)), c.Dim)
					if _, err := sp[space].Recall(ctx, engram.Query{Embedding: m.Embedding, K: 3, Tiers: tier.All}); err != nil {
						errc <- fmt.Errorf("tiered recall: %w", err)
						return
					}
				}
			}
			if b%3 == 2 { // bulk update of earlier acknowledged memories
				mu.Lock()
				pick := make([]string, 0, 20)
				for i := 0; i < 20 && len(acked) > 0; i++ {
					pick = append(pick, acked[r.IntN(len(acked))])
				}
				mu.Unlock()
				bySpace := map[string][]engram.Update{}
				var intents, acks []string
				for _, p := range pick {
					space, id, _ := strings.Cut(p, "/")
					conf := confFor(id, b)
					bySpace[space] = append(bySpace[space], engram.Update{ID: id, Patch: engram.Patch{Confidence: &conf}})
					intents = append(intents, fmt.Sprintf("c %s %s %g", space, id, conf))
					acks = append(acks, fmt.Sprintf("C %s %s %g", space, id, conf))
				}
				if err := log.write(intents...); err != nil {
					errc <- err
					return
				}
				for space, ups := range bySpace {
					if _, err := sp[space].BatchUpdate(ctx, dedupUpdates(ups)); err != nil {
						errc <- fmt.Errorf("update: %w", err)
						return
					}
				}
				if err := log.write(acks...); err != nil {
					errc <- err
					return
				}
			}
			if b%5 == 4 { // forget a few
				mu.Lock()
				var victims []string
				for i := 0; i < 5 && len(acked) > 0; i++ {
					j := r.IntN(len(acked))
					victims = append(victims, acked[j])
					acked[j] = acked[len(acked)-1]
					acked = acked[:len(acked)-1]
				}
				mu.Unlock()
				var intents, acks []string
				for _, v := range victims {
					space, id, _ := strings.Cut(v, "/")
					intents = append(intents, fmt.Sprintf("f %s %s", space, id))
					acks = append(acks, fmt.Sprintf("F %s %s", space, id))
				}
				if err := log.write(intents...); err != nil {
					errc <- err
					return
				}
				for _, v := range victims {
					space, id, _ := strings.Cut(v, "/")
					if _, err := sp[space].Forget(ctx, id); err != nil {
						errc <- fmt.Errorf("forget: %w", err)
						return
					}
				}
				if err := log.write(acks...); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
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
