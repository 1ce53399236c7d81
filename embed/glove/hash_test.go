package glove

import (
	"context"
	"testing"

	"github.com/engram-go/engram/embed/hash"
)

func TestRewordingRank1Hash(t *testing.T) {
	h, err := hash.New()
	if err != nil {
		t.Fatal(err)
	}
	v := fixtureVectors(t)
	for _, k := range []int{1, 100} { // 1 word replaced (the target), every content word
		r1, _, _, err := rewordScore(context.Background(), h, rewordN(t, v, k))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("hash, %d replaced: rank-1 %.3f", k, r1)
		if k == 1 && r1 < 0.9 {
			t.Fatalf("rank-1 %.3f below 0.90", r1)
		}
	}
}
