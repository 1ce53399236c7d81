package remote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/engram-go/engram/embed"
)

// Limits bound the requests an Embed call is split into.
type Limits struct {
	MaxInputs    int // texts per request
	MaxBytes     int // bytes of text per request (a text longer than this goes alone)
	MaxTextBytes int // bytes of one text; a longer text fails alone without being sent
}

// Runner carries out Embed calls for an HTTP embedder.
//
// A call's texts are checked (non-empty, valid UTF-8, at most MaxTextBytes) and the good
// ones packed in order into requests of at most MaxInputs texts and MaxBytes bytes, sent
// by up to Workers goroutines; the Client bounds the requests in flight across calls.
//
// When the server rejects a request of several texts as a bad request (HTTP 400, 413 or
// 422), the runner finds out which texts it rejects, within a budget of Isolation extra
// requests per call:
//
//  1. Canaries: the shortest text alone, then (if rejected) the second shortest. If both
//     are rejected alone, the request itself is bad (unknown model, unsupported
//     dimensions...): the whole call fails with the server's message.
//  2. Bisection of the rest: split in halves; a half that is accepted is done; a rejected
//     half is split again, down to single texts, which are the rejected ones. When the
//     left half is accepted the right one is known to hold a rejected text and is split
//     without being sent whole. k rejected texts among n cost about 2·k·log2(n) requests.
//  3. Texts still unresolved when the budget is spent fail with a retryable error (sent
//     again, in a smaller call, they may well be accepted).
//
// Isolation 0 turns this off: a rejected request fails all of its texts.
type Runner struct {
	Name      string
	Limits    Limits
	Workers   int
	Isolation int
	// Send makes one request for texts, returning one finite vector per text, in order.
	Send func(ctx context.Context, texts []string) ([][]float32, error)
	Dims *Dims
}

// Embed implements the embed contract (see package embed): vectors in order; per-text
// failures in an embed.TextErrors with the other vectors valid; a single error when the
// whole call failed (the context ended, the server refused every request, or a permanent
// request-level failure such as a bad API key).
func (r *Runner) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, &embed.Error{Embedder: r.Name, Msg: "no texts to embed"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &call{r: r, texts: texts, out: make([][]float32, len(texts)), failed: embed.TextErrors{}}
	c.budget.Store(int64(r.Isolation))
	valid := make([]int, 0, len(texts))
	for i, t := range texts {
		if msg := r.checkText(t); msg != "" {
			c.failed[i] = &embed.Error{Embedder: r.Name, Msg: msg}
			continue
		}
		valid = append(valid, i)
	}
	batches := r.split(texts, valid)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.cancel = cancel
	if len(batches) == 1 {
		c.run(cctx, batches[0])
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(max(r.Workers, 1), len(batches)) {
			wg.Go(func() {
				for {
					k := int(next.Add(1) - 1)
					if k >= len(batches) || cctx.Err() != nil {
						return
					}
					c.run(cctx, batches[k])
				}
			})
		}
		wg.Wait()
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.fatal != nil {
		return nil, c.fatal
	}
	if c.succeeded == 0 && c.groupErr != nil {
		return nil, c.groupErr
	}
	if len(c.failed) > 0 {
		return c.out, c.failed
	}
	return c.out, nil
}

func (r *Runner) checkText(t string) string {
	switch {
	case t == "":
		return "empty text"
	case len(t) > r.Limits.MaxTextBytes:
		return fmt.Sprintf("text of %d bytes exceeds the limit of %d", len(t), r.Limits.MaxTextBytes)
	case !utf8.ValidString(t):
		return "text is not valid UTF-8"
	}
	return ""
}

// split packs the valid texts, in order, into requests.
func (r *Runner) split(texts []string, valid []int) [][]int {
	var batches [][]int
	var cur []int
	bytes := 0
	for _, i := range valid {
		n := len(texts[i])
		if len(cur) > 0 && (len(cur) == r.Limits.MaxInputs || bytes+n > r.Limits.MaxBytes) {
			batches = append(batches, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, i)
		bytes += n
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

// call is the state of one Embed call.
type call struct {
	r      *Runner
	texts  []string
	out    [][]float32 // each row written by the one goroutine that owns its text
	budget atomic.Int64
	cancel context.CancelFunc

	mu        sync.Mutex
	failed    embed.TextErrors
	fatal     error
	groupErr  error
	succeeded int
}

// outcome classifies a request's result.
type outcome int

const (
	accepted outcome = iota
	canceled         // the context ended: nothing to record
	rejected         // the server refused the texts: HTTP 400, 413, 422
	fatal            // a permanent failure of the request itself (bad key, unknown model...)
	failed           // any other failure: retries exhausted, a malformed answer...
)

func classify(err error) outcome {
	if err == nil {
		return accepted
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return canceled
	}
	var ee *embed.Error
	if !errors.As(err, &ee) || ee.Retryable {
		return failed
	}
	switch {
	case ee.Status == 400 || ee.Status == 413 || ee.Status == 422:
		return rejected
	case ee.Status == 0 || (ee.Status >= 400 && ee.Status <= 499):
		return fatal
	}
	return failed
}

// send makes one request for the texts at idx.
func (c *call) send(ctx context.Context, idx []int) ([][]float32, error) {
	sub := make([]string, len(idx))
	for k, i := range idx {
		sub[k] = c.texts[i]
	}
	vecs, err := c.r.Send(ctx, sub)
	if err != nil {
		return nil, err
	}
	if msg := c.r.Dims.Check(vecs); msg != "" {
		return nil, &embed.Error{Embedder: c.r.Name, Status: 200, Msg: msg}
	}
	return vecs, nil
}

// run sends one request and settles its texts.
func (c *call) run(ctx context.Context, idx []int) {
	vecs, err := c.send(ctx, idx)
	switch classify(err) {
	case accepted:
		c.store(idx, vecs)
	case canceled:
	case rejected:
		if len(idx) == 1 {
			c.fail(idx, err)
		} else if c.r.Isolation == 0 {
			c.failGroup(idx, err)
		} else {
			c.isolate(ctx, idx, err)
		}
	case fatal:
		c.setFatal(err)
	default:
		c.failGroup(idx, err)
	}
}

// isolate finds the rejected texts of idx, a request the server rejected with err.
func (c *call) isolate(ctx context.Context, idx []int, err error) {
	byLen := slices.Clone(idx)
	slices.SortStableFunc(byLen, func(a, b int) int { return cmp.Compare(len(c.texts[a]), len(c.texts[b])) })
	rest := slices.Clone(idx)
	var firstRejected error
	for _, canary := range byLen[:2] {
		if !c.spend() {
			c.failUnisolated(rest, err)
			return
		}
		rest = slices.DeleteFunc(rest, func(i int) bool { return i == canary })
		vecs, cerr := c.send(ctx, []int{canary})
		switch classify(cerr) {
		case accepted:
			c.store([]int{canary}, vecs)
			if firstRejected == nil {
				// The request works with one text, and was rejected with all of them:
				// the rest holds a rejected text.
				c.bisectKnownBad(ctx, rest, err)
			} else {
				c.attempt(ctx, rest, err)
			}
			return
		case rejected:
			if firstRejected != nil {
				c.setFatal(firstRejected)
				return
			}
			firstRejected = cerr
			c.fail([]int{canary}, cerr)
			if len(rest) == 0 {
				return
			}
		case canceled:
			return
		case fatal:
			c.setFatal(cerr)
			return
		default:
			c.failGroup(append(rest, canary), cerr)
			return
		}
	}
}

// attempt sends idx, whose status is unknown, and settles it; a rejection is bisected.
func (c *call) attempt(ctx context.Context, idx []int, orig error) {
	if len(idx) == 0 || ctx.Err() != nil {
		return
	}
	if !c.spend() {
		c.failUnisolated(idx, orig)
		return
	}
	vecs, err := c.send(ctx, idx)
	switch classify(err) {
	case accepted:
		c.store(idx, vecs)
	case canceled:
	case rejected:
		if len(idx) == 1 {
			c.fail(idx, err)
		} else {
			c.bisectKnownBad(ctx, idx, err)
		}
	case fatal:
		c.setFatal(err)
	default:
		c.failGroup(idx, err)
	}
}

// bisectKnownBad settles idx, which holds at least one text the server rejects (with err).
func (c *call) bisectKnownBad(ctx context.Context, idx []int, err error) {
	if len(idx) == 0 || ctx.Err() != nil {
		return
	}
	if len(idx) == 1 {
		c.fail(idx, err)
		return
	}
	left, right := idx[:len(idx)/2], idx[len(idx)/2:]
	if !c.spend() {
		c.failUnisolated(idx, err)
		return
	}
	vecs, lerr := c.send(ctx, left)
	switch classify(lerr) {
	case accepted:
		c.store(left, vecs)
		c.bisectKnownBad(ctx, right, err) // the rejected text is on the right
	case canceled:
	case rejected:
		c.bisectKnownBad(ctx, left, lerr)
		c.attempt(ctx, right, err)
	case fatal:
		c.setFatal(lerr)
	default:
		c.failGroup(left, lerr)
		c.attempt(ctx, right, err)
	}
}

func (c *call) spend() bool { return c.budget.Add(-1) >= 0 }

func (c *call) store(idx []int, vecs [][]float32) {
	for k, i := range idx {
		c.out[i] = vecs[k]
	}
	c.mu.Lock()
	c.succeeded += len(idx)
	c.mu.Unlock()
}

func (c *call) fail(idx []int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range idx {
		c.failed[i] = err
	}
}

func (c *call) failGroup(idx []int, err error) {
	c.fail(idx, err)
	c.mu.Lock()
	if c.groupErr == nil {
		c.groupErr = err
	}
	c.mu.Unlock()
}

func (c *call) failUnisolated(idx []int, err error) {
	msg := fmt.Sprintf("not tried alone: a request holding this text was rejected, and the %d extra requests allowed for finding the rejected texts were spent; "+
		"the server said: %v", c.r.Isolation, err)
	status := 0
	var ee *embed.Error
	if errors.As(err, &ee) {
		status = ee.Status
	}
	c.fail(idx, &embed.Error{Embedder: c.r.Name, Status: status, Retryable: true, Msg: msg})
}

func (c *call) setFatal(err error) {
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	c.mu.Unlock()
	c.cancel()
}
