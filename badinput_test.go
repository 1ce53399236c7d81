package engram

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestBadInputMatrix: each class of bad input gets its documented code, valid siblings in
// the same batch are stored, and nothing panics. One row per class.
func TestBadInputMatrix(t *testing.T) {
	ctx := context.Background()
	lim := DefaultLimits
	lim.MaxContentBytes, lim.MaxMetadataBytes, lim.MaxBatch, lim.MaxK = 64, 64, 8, 50
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Minute))
	defer cancel2()

	type env struct {
		s  *Store
		sp *Space
	}
	setup := func(t *testing.T) env {
		s := openTemp(t, WithLimits(lim))
		return env{s, mustSpace(t, s, "m", WithDimension(3))}
	}
	good := Memory{Embedding: unit(1, 2, 3)}
	// item: a bad memory sent in a batch between two valid ones.
	item := func(m Memory) func(e env) error {
		return func(e env) error {
			res, err := e.sp.BatchRemember(ctx, []Memory{good, m, good})
			if err != nil {
				return err
			}
			if res.Stored != 2 || res.Items[0].Err != nil || res.Items[2].Err != nil {
				return errors.New("valid siblings were not stored")
			}
			return res.Items[1].Err
		}
	}
	// closed: the call made after the store closed.
	closed := func(call func(e env) error) func(e env) error {
		return func(e env) error {
			e.s.Close()
			return call(e)
		}
	}
	recall := func(q Query) func(e env) error {
		return func(e env) error { _, err := e.sp.Recall(ctx, q); return err }
	}
	cases := []struct {
		class string
		run   func(e env) error
		code  Code
	}{
		{"wrong dimension", item(Memory{Embedding: unit(1, 2)}), CodeDimensionMismatch},
		{"empty embedding", item(Memory{}), CodeInvalidEmbedding},
		{"NaN embedding", item(Memory{Embedding: unit(nan, 1, 1)}), CodeInvalidEmbedding},
		{"Inf embedding", item(Memory{Embedding: unit(1, inf, 1)}), CodeInvalidEmbedding},
		{"zero-norm embedding", item(Memory{Embedding: unit(0, 0, 0)}), CodeInvalidEmbedding},
		{"confidence < 0", item(Memory{Embedding: unit(1, 1, 1), Confidence: Confidence(-0.01)}), CodeInvalidConfidence},
		{"confidence > 1", item(Memory{Embedding: unit(1, 1, 1), Confidence: Confidence(1.01)}), CodeInvalidConfidence},
		{"confidence NaN", item(Memory{Embedding: unit(1, 1, 1), Confidence: Confidence(nan)}), CodeInvalidConfidence},
		{"oversized content", item(Memory{Embedding: unit(1, 1, 1), Content: strings.Repeat("c", 65)}), CodeContentTooLarge},
		{"oversized metadata", item(Memory{Embedding: unit(1, 1, 1), Metadata: map[string]string{"k": strings.Repeat("v", 64)}}), CodeMetadataTooLarge},
		{"invalid ID", item(Memory{Embedding: unit(1, 1, 1), ID: "bad\x00id"}), CodeInvalidID},
		{"C1 control character in ID", item(Memory{Embedding: unit(1, 1, 1), ID: "bad\u009bid"}), CodeInvalidID},
		{"content not UTF-8", item(Memory{Embedding: unit(1, 1, 1), Content: "caf\xe9"}), CodeInvalidText},
		{"empty ID for Get", func(e env) error { _, err := e.sp.Get(ctx, ""); return err }, CodeInvalidID},
		{"empty ID for Forget", func(e env) error { _, err := e.sp.Forget(ctx, ""); return err }, CodeInvalidID},
		{"duplicate ID in batch", func(e env) error {
			res, _ := e.sp.BatchRemember(ctx, []Memory{{ID: "d", Embedding: unit(1, 1, 1)}, {ID: "d", Embedding: unit(1, 0, 1)}})
			if res.Stored != 1 {
				return errors.New("first occurrence not stored")
			}
			return res.Items[1].Err
		}, CodeDuplicateID},
		{"invalid space name", func(e env) error { _, err := e.s.Space(ctx, "No Such/Space"); return err }, CodeInvalidSpaceName},
		{"unknown space", func(e env) error { _, err := e.s.LookupSpace("nope"); return err }, CodeSpaceNotFound},
		{"K = 0", recall(Query{Embedding: unit(1, 1, 1)}), CodeInvalidQuery},
		{"K < 0", recall(Query{Embedding: unit(1, 1, 1), K: -5}), CodeInvalidQuery},
		{"K absurd", recall(Query{Embedding: unit(1, 1, 1), K: 51}), CodeInvalidQuery},
		{"threshold > 1", recall(Query{Embedding: unit(1, 1, 1), K: 1, MinSimilarity: 1.5}), CodeInvalidQuery},
		{"threshold < -1", recall(Query{Embedding: unit(1, 1, 1), K: 1, MinSimilarity: -1.5}), CodeInvalidQuery},
		{"min confidence NaN", recall(Query{Embedding: unit(1, 1, 1), K: 1, MinConfidence: nan}), CodeInvalidQuery},
		{"cue of wrong dimension", recall(Query{Embedding: unit(1, 1), K: 1}), CodeDimensionMismatch},
		{"nil batch", func(e env) error { _, err := e.sp.BatchRemember(ctx, nil); return err }, CodeEmptyBatch},
		{"empty batch", func(e env) error { _, err := e.sp.BatchRemember(ctx, []Memory{}); return err }, CodeEmptyBatch},
		{"oversized batch", func(e env) error { _, err := e.sp.BatchRemember(ctx, make([]Memory, 9)); return err }, CodeBatchTooLarge},
		{"canceled context", func(e env) error { _, err := e.sp.BatchRemember(canceled, []Memory{good}); return err }, CodeCanceled},
		{"expired context", func(e env) error { _, err := e.sp.Recall(expired, Query{Embedding: unit(1, 1, 1), K: 1}); return err }, CodeDeadlineExceeded},
		{"Snapshot with canceled context", func(e env) error { return e.sp.Snapshot(canceled) }, CodeCanceled},
		{"Snapshot with expired context", func(e env) error { return e.sp.Snapshot(expired) }, CodeDeadlineExceeded},
		{"Space with canceled context", func(e env) error { _, err := e.s.Space(canceled, "c"); return err }, CodeCanceled},
		{"DropSpace with expired context", func(e env) error { return e.s.DropSpace(expired, "m") }, CodeDeadlineExceeded},
		{"call after Close", func(e env) error { e.s.Close(); _, err := e.sp.Remember(ctx, good); return err }, CodeClosed},
		{"Open after Close, closed store", func(e env) error { e.s.Close(); _, err := e.s.Space(ctx, "x"); return err }, CodeClosed},
		// Every other call on a closed store says CLOSED too: none succeeds storing nothing.
		{"RememberMixed after Close", closed(func(e env) error {
			_, err := e.s.RememberMixed(ctx, []SpaceMemory{{Space: "m", Memory: good}})
			return err
		}), CodeClosed},
		{"Stream.Send after Close", closed(func(e env) error { _, err := e.sp.NewStream(StreamOptions{}).Send(ctx, good); return err }), CodeClosed},
		{"Stream.Send after Close, NoAcks", closed(func(e env) error {
			_, err := e.sp.NewStream(StreamOptions{NoAcks: true}).Send(ctx, good)
			return err
		}), CodeClosed},
		{"Batcher.Remember after Close", closed(func(e env) error { _, err := e.sp.NewBatcher(BatcherOptions{}).Remember(ctx, good); return err }), CodeClosed},
		{"RememberAll after Close", closed(func(e env) error { _, err := e.sp.RememberAll(ctx, []Memory{good}, 0, 0); return err }), CodeClosed},
		{"Archive after Close", closed(func(e env) error { _, err := e.sp.Archive(ctx, []Memory{good}); return err }), CodeClosed},
		{"Forget after Close", closed(func(e env) error { _, err := e.sp.Forget(ctx, "x"); return err }), CodeClosed},
		{"BatchUpdate after Close", closed(func(e env) error { _, err := e.sp.BatchUpdate(ctx, []Update{{ID: "x"}}); return err }), CodeClosed},
		{"SetCheckpoint after Close", closed(func(e env) error { return e.sp.SetCheckpoint(ctx, "c", []byte("v")) }), CodeClosed},
		{"Snapshot after Close", closed(func(e env) error { return e.sp.Snapshot(ctx) }), CodeClosed},
		{"DropSpace after Close", closed(func(e env) error { return e.s.DropSpace(ctx, "m") }), CodeClosed},
		{"Sync after Close", closed(func(e env) error { return e.s.Sync() }), CodeClosed},
		{"Check after Close", closed(func(e env) error { _, err := e.s.Check(ctx); return err }), CodeClosed},
		{"Get after Close", closed(func(e env) error { _, err := e.sp.Get(ctx, "x"); return err }), CodeClosed},
	}
	for _, c := range cases {
		t.Run(c.class, func(t *testing.T) {
			e := setup(t)
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				err = c.run(e)
			}()
			if got := CodeOf(err); got != c.code {
				t.Fatalf("got %v (%s), want %s", err, got, c.code)
			}
			if !strings.Contains(err.Error(), c.code.String()) {
				t.Fatalf("error text %q lacks the code name", err)
			}
			if c.code.Retryable() != IsRetryable(err) {
				t.Fatalf("retryable = %v", IsRetryable(err))
			}
		})
	}
	if len(cases) < 15 {
		t.Fatal("the matrix must cover at least 15 classes")
	}
}

// TestEdgeInputMatrix: input at the edges of what is valid is stored as given, not turned
// into something else: one row per class of edge value (embeddings at both ends of the
// float32 range, which used to come back as NaN when tiny). Each is stored between two
// ordinary memories and read back finite and of unit length, pointing the same way.
func TestEdgeInputMatrix(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "edge", WithDimension(3))
	maxf := float32(math.MaxFloat32)
	for _, c := range []struct {
		class string
		e     []float32
	}{
		{"smallest subnormal", unit(1e-45, 0, 0)},
		{"subnormals", unit(1e-40, -1e-41, 3e-42)},
		{"just below the normal range", unit(1e-38, 1e-38, 0)},
		{"tiny normals (squares underflow)", unit(1e-30, 2e-30, -1e-30)},
		{"largest finite", unit(maxf, maxf, -maxf)},
		{"huge and tiny together", unit(1e38, 1e-40, 0)},
		{"one component", unit(0, 0, -5)},
	} {
		t.Run(c.class, func(t *testing.T) {
			res, err := sp.BatchRemember(ctx, []Memory{{Embedding: unit(1, 2, 3)}, {ID: c.class, Embedding: c.e}, {Embedding: unit(3, 2, 1)}})
			if err != nil || res.Failed != 0 {
				t.Fatalf("%v %v", err, res.Err())
			}
			m, err := sp.Get(ctx, c.class)
			if err != nil {
				t.Fatal(err)
			}
			// The direction, in float64 from the exact input (scaled by its largest
			// component, so that no square leaves float64's range).
			var scale, ss float64
			for _, x := range c.e {
				scale = max(scale, math.Abs(float64(x)))
			}
			for _, x := range c.e {
				ss += (float64(x) / scale) * (float64(x) / scale)
			}
			ref := scale * math.Sqrt(ss)
			for i, x := range m.Embedding {
				if d := math.Abs(float64(x) - float64(c.e[i])/ref); !(d <= 1e-6) {
					t.Fatalf("stored %v for %v", m.Embedding, c.e)
				}
			}
		})
	}
}
