package engram

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/engram-go/engram/tier"
)

// TestMetricsCountOperations: the counters match the operations performed.
func TestMetricsCountOperations(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	sp := mustSpace(t, s, "m")
	for i := 0; i < 3; i++ {
		sp.BatchRemember(ctx, []Memory{
			{Embedding: unit(1, float32(i))},
			{Embedding: unit(2, float32(i))},
			{Embedding: unit(0, 0)}, // INVALID_EMBEDDING
			{Embedding: unit(1, 2, 3)},
		})
	}
	for i := 0; i < 5; i++ {
		sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 2})
	}
	sp.Recall(ctx, Query{Embedding: unit(1, 0), K: 0}) // INVALID_QUERY
	sp.BatchRecall(ctx, []Query{{Embedding: unit(1, 0), K: 1}, {Embedding: unit(1, 0, 0), K: 1}})
	sp.Get(ctx, "nope")
	sp.Forget(ctx, "a", "b")
	st := sp.Stats()
	rem := st.Ops[OpRemember]
	if rem.Calls != 3 || rem.Items != 12 || rem.Failed != 6 || rem.FailuresByCode["INVALID_EMBEDDING"] != 3 ||
		rem.FailuresByCode["DIMENSION_MISMATCH"] != 3 || rem.BatchSize.Max != 4 || rem.Latency.P99 <= 0 || rem.ItemsPerSecond <= 0 {
		t.Fatalf("remember: %+v", rem)
	}
	rec := st.Ops[OpRecall]
	if rec.Calls != 7 || rec.Items != 8 || rec.Failed != 2 || rec.FailuresByCode["INVALID_QUERY"] != 1 || rec.FailuresByCode["DIMENSION_MISMATCH"] != 1 {
		t.Fatalf("recall: %+v", rec)
	}
	if g := st.Ops[OpGet]; g.Calls != 1 || g.FailuresByCode["NOT_FOUND"] != 1 {
		t.Fatalf("get: %+v", g)
	}
	if f := st.Ops[OpForget]; f.Calls != 1 || f.Items != 2 || f.Failed != 0 {
		t.Fatalf("forget: %+v", f)
	}
	if h := sp.LatencyHistogram(OpRemember); h.Count != 3 || h.Buckets[len(h.Buckets)-1].Count != 3 {
		t.Fatalf("latency histogram: %+v", h)
	}
	if h := sp.BatchSizeHistogram(OpRecall); h.Count != 7 || h.Sum != 8 {
		t.Fatalf("batch-size histogram: %+v", h)
	}
	// expvar renders the same numbers as JSON.
	var v struct {
		Spaces []struct {
			Name string
			Ops  []struct {
				Op    string
				Calls uint64
			}
		}
	}
	if err := json.Unmarshal([]byte(s.Expvar().String()), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Spaces) != 1 || v.Spaces[0].Ops[OpRemember].Calls != 3 {
		t.Fatalf("expvar: %+v", v)
	}
	if BackpressureState(0, 0) != tier.Normal || BackpressureState(5, 10) != tier.Warning || BackpressureState(9, 10) != tier.Critical || BackpressureState(10, 10) != tier.Overloaded {
		t.Fatal("backpressure states")
	}
}
