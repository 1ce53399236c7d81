package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxReported bounds the RowErrors an ImportResult keeps (OnRowError sees them all).
const MaxReported = 100

// ImportResult is what an Import did.
type ImportResult struct {
	Read     int64 // rows read from the server in this run
	Stored   int64 // memories stored, replacements included
	Replaced int64 // stored memories that replaced one with the same ID
	Failed   int64 // rows not imported: conversion failures and store rejections
	// FailuresByCode counts Failed by code.
	FailuresByCode map[Code]int64
	// Errors are the first MaxReported failed rows, in row order.
	Errors []*RowError
	// ResumedAfter is the key this run continued after ("" when it started from the top).
	ResumedAfter string
	// LastKey is the last key committed and checkpointed: a resumed import continues after
	// it. "" without a key or before the first batch.
	LastKey    string
	Reconnects int // connections lost and re-established while reading
	Method     Method
	Elapsed    time.Duration
}

// importCheckpoint is the value an Import records under its checkpoint name.
type importCheckpoint struct {
	V      int       `json:"v"`
	Source string    `json:"source"` // plan fingerprint
	Key    string    `json:"key"`    // last key committed
	Rows   int64     `json:"rows"`   // rows handled up to Key, over all runs since a fresh start
	At     time.Time `json:"at"`
}

// Import reads rows from PostgreSQL and remembers them in sp: the rows of src, in key
// order, page by page (see Source.Key), through a pipeline of three stages running at
// once — read (COPY or a streamed query), convert (see Mapping), BatchRemember (batches of
// BatchSize, InFlight at a time) — linked by channels of one batch, so an import of any
// size holds a few batches in memory.
//
// A row that does not convert, or that the store rejects, is reported (OnRowError, the
// result's Errors) with its key, the column at fault and a code, and the import goes on. A
// memory's ID is the row's ID column, or else its key, so importing a row again replaces
// its memory rather than duplicating it.
//
// After each committed batch the import records the last committed key in the space
// (Space.SetCheckpoint, durable); Resume continues from there.
// A lost connection is re-established (Retries) and the read continues after the last row
// read. Import stops, returning the result so far and an error, when the read fails for
// good, a batch fails as a whole (closed store, failed commit), or ctx ends; everything
// read before then is committed first when possible, and the checkpoint covers exactly
// the committed batches, so a resumed import neither loses nor repeats a row.
func Import(ctx context.Context, pool *pgxpool.Pool, sp *engram.Space, src Source, opts ...Option) (*ImportResult, error) {
	start := time.Now()
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	p, err := resolve(ctx, pool, src)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{FailuresByCode: make(map[Code]int64), Method: cfg.method}
	ck, err := openCheckpoint(ctx, cfg, sp, p, res)
	if err != nil {
		return nil, err
	}
	total := int64(-1)
	if cfg.count {
		lit := ""
		if res.ResumedAfter != "" {
			if lit, err = quoteLiteral(res.ResumedAfter); err != nil {
				return nil, err
			}
		}
		if err := pool.QueryRow(ctx, p.countSQL(lit)).Scan(&total); err != nil {
			return nil, fmt.Errorf("postgres: count rows: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rd := &reader{pool: pool, plan: p, method: cfg.method, pageSize: cfg.pageSize, batchSize: cfg.batchSize, retries: cfg.retries}
	if res.ResumedAfter != "" {
		rd.last = []byte(res.ResumedAfter)
	}
	conv, readDone := readAndConvert(ctx, rd)
	// Commits run InFlight at a time, a new one starting as soon as any finishes (as
	// RememberAll does), and are handled in order: a batch's results (and the checkpoint
	// past it) only after every earlier batch's. The first version started a batch only
	// once the oldest was handled, so a batch finishing before an older one left a slot
	// idle; at 1M × 384 that import ran at 0.71× RememberAll. The queue of batches started
	// or finished but not yet handled is bounded (2 × InFlight), which bounds memory.
	type pending struct {
		mb   *memBatch
		res  *engram.BatchResult
		err  error
		done chan struct{}
	}
	slots := make(chan struct{}, cfg.inFlight)
	queue := make(chan *pending, 2*cfg.inFlight)
	go func() {
		defer close(queue)
		for mb := range conv {
			pd := &pending{mb: mb, done: make(chan struct{})}
			select {
			case queue <- pd:
			case <-ctx.Done():
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				pd.err = ctx.Err() // never started: nothing of it may be recorded
				close(pd.done)
				continue
			}
			go func() {
				defer close(pd.done)
				defer func() { <-slots }()
				if len(pd.mb.mems) > 0 {
					pd.res, pd.err = commitBatch(ctx, sp, pd.mb.mems)
				}
			}()
		}
	}()

	var stop error
	for pd := range queue {
		<-pd.done
		if stop != nil {
			continue // after a failure: wait for the batches in flight, record nothing more
		}
		if pd.err != nil {
			stop = fmt.Errorf("postgres: import stopped at row %d: %w", pd.mb.firstRow(), pd.err)
			cancel()
			continue
		}
		res.record(p, pd.mb, pd.res, cfg.onRowError)
		if pd.mb.last != "" {
			res.LastKey = pd.mb.last
		}
		ck.advance(pd.mb.rows, res.LastKey)
		if err := ck.write(ctx); err != nil {
			stop = err
			cancel()
			continue
		}
		if cfg.progress != nil {
			cfg.progress(Progress{Read: res.Read, Stored: res.Stored, Replaced: res.Replaced, Failed: res.Failed, Total: total, Elapsed: time.Since(start)})
		}
	}
	readErr := <-readDone
	res.Reconnects = rd.reconnects
	// The last progress is recorded whatever stopped the import (under a context of its
	// own: ctx may be what ended).
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer wcancel()
	if err := ck.write(wctx); err != nil && stop == nil {
		stop = err
	}
	res.Elapsed = time.Since(start)
	if stop == nil && readErr != nil {
		stop = fmt.Errorf("postgres: import read failed after %d rows: %w", res.Read, readErr)
	}
	if stop != nil && res.LastKey != "" {
		stop = fmt.Errorf("%w (committed through key %q: import again with Resume to continue)", stop, res.LastKey)
	}
	return res, stop
}

// readAndConvert runs the first two stages: the reader, and a converter one batch behind
// it. The converted batches come out of conv, closed at the end; the reader's outcome then
// comes out of readDone. Both stages stop when ctx ends.
func readAndConvert(ctx context.Context, rd *reader) (<-chan *memBatch, <-chan error) {
	raw := make(chan *rawBatch, 1)
	conv := make(chan *memBatch, 1)
	rd.out = raw
	readDone := make(chan error, 1)
	go func() {
		err := rd.run(ctx)
		close(raw)
		readDone <- err
	}()
	go func() {
		defer close(conv)
		for b := range raw {
			mb := rd.plan.convert(b)
			select {
			case conv <- mb:
			case <-ctx.Done(): // the import stopped: drain what the reader still sends
			}
		}
	}()
	return conv, readDone
}

// openCheckpoint prepares an import's checkpoint and, with Resume, reads where the last
// run stopped (into res.ResumedAfter and res.LastKey).
func openCheckpoint(ctx context.Context, cfg *config, sp *engram.Space, p *plan, res *ImportResult) (*checkpointWriter, error) {
	name := cfg.checkpoint
	if name == "" {
		name = "postgres-import-" + p.fingerprint
	}
	ck := &checkpointWriter{name: name, fingerprint: p.fingerprint}
	if p.hasKey() { // without a key there is no position to record
		ck.cp = cfg.checkpoints(sp)
	}
	if !cfg.resume {
		return ck, nil
	}
	if !p.hasKey() {
		return nil, errors.New("postgres: resuming needs a key column (Source.Key, or an id column)")
	}
	v, err := ck.cp.Checkpoint(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("postgres: read checkpoint %q: %w", name, err)
	}
	if v == nil {
		return ck, nil
	}
	var prev importCheckpoint
	if err := json.Unmarshal(v, &prev); err != nil {
		return nil, fmt.Errorf("postgres: checkpoint %q is not an import checkpoint: %w", name, err)
	}
	if prev.Source != p.fingerprint {
		return nil, fmt.Errorf("postgres: checkpoint %q belongs to another source or key", name)
	}
	res.ResumedAfter, res.LastKey = prev.Key, prev.Key
	ck.key, ck.rows = prev.Key, prev.Rows
	return ck, nil
}

func (mb *memBatch) firstRow() int64 {
	first := int64(-1)
	if len(mb.refs) > 0 {
		first = mb.refs[0].row
	}
	if len(mb.failed) > 0 && (first < 0 || mb.failed[0].Row < first) {
		first = mb.failed[0].Row
	}
	return first
}

// record adds a committed batch's outcome to the result and reports its failed rows in
// row order.
func (res *ImportResult) record(p *plan, mb *memBatch, br *engram.BatchResult, onErr func(*RowError)) {
	res.Read += int64(mb.rows)
	failed := mb.failed
	if br != nil {
		for i, it := range br.Items {
			switch {
			case it.Err != nil:
				failed = append(failed, p.storeError(mb.refs[i], mb.mems[i].ID, it.Err))
			case it.Replaced:
				res.Replaced++
				res.Stored++
			default:
				res.Stored++
			}
		}
	}
	slices.SortFunc(failed, func(a, b *RowError) int { return cmp.Compare(a.Row, b.Row) })
	for _, e := range failed {
		res.Failed++
		res.FailuresByCode[e.Code]++
		if len(res.Errors) < MaxReported {
			res.Errors = append(res.Errors, e)
		}
		if onErr != nil {
			onErr(e)
		}
	}
}

// commitBatch is BatchRemember with retries of retryable failures: of the whole batch (a
// failed commit) and of single items (BACKPRESSURE from a tiered space, a transient
// embedder failure), honouring RetryAfter hints, up to five attempts. A failure still
// retryable after them is returned as the batch's error: giving up on a row that might
// still be stored would make the checkpoint skip it.
func commitBatch(ctx context.Context, sp *engram.Space, mems []engram.Memory) (*engram.BatchResult, error) {
	const attempts = 5
	var res *engram.BatchResult
	for a := 1; ; a++ {
		r, err := sp.BatchRemember(ctx, mems)
		if err == nil {
			res = r
			break
		}
		if !engram.IsRetryable(err) || ctx.Err() != nil || a == attempts {
			return r, err
		}
		if err := sleep(ctx, max(retryAfter(err), backoff(a))); err != nil {
			return r, err
		}
	}
	for a := 1; ; a++ {
		idx := res.Retryable()
		if len(idx) == 0 {
			return res, nil
		}
		if a == attempts || ctx.Err() != nil {
			return res, fmt.Errorf("%d memories still failing with retryable codes: %w", len(idx), res.Items[idx[0]].Err)
		}
		wait := backoff(a)
		sub := make([]engram.Memory, len(idx))
		for j, i := range idx {
			sub[j] = mems[i]
			wait = max(wait, retryAfter(res.Items[i].Err))
		}
		if err := sleep(ctx, wait); err != nil {
			return res, err
		}
		r, err := sp.BatchRemember(ctx, sub)
		if err != nil && !engram.IsRetryable(err) {
			return res, err
		}
		for j, i := range idx {
			if r.Items[j].Err == nil {
				res.Stored++
				res.Failed--
			}
			res.Items[i] = r.Items[j]
		}
	}
}

func retryAfter(err error) time.Duration {
	var e *engram.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// checkpointWriter records an import's progress after every committed batch. The write
// shares the store's group commit with the batches in flight, so it costs no fsync of its
// own; a crash between a batch's commit and its checkpoint re-imports that batch (and the
// others in flight), as replacements.
type checkpointWriter struct {
	cp          checkpointer
	name        string
	fingerprint string
	key         string
	rows        int64
	dirty       bool
}

func (w *checkpointWriter) advance(rows int, key string) {
	w.rows += int64(rows)
	if key != "" && key != w.key {
		w.key, w.dirty = key, true
	}
}

func (w *checkpointWriter) write(ctx context.Context) error {
	if w.cp == nil || !w.dirty {
		return nil
	}
	v, err := json.Marshal(importCheckpoint{V: 1, Source: w.fingerprint, Key: w.key, Rows: w.rows, At: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := w.cp.SetCheckpoint(ctx, w.name, v); err != nil {
		return fmt.Errorf("postgres: record checkpoint %q: %w", w.name, err)
	}
	w.dirty = false
	return nil
}
