package engram

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkOpenAudit: what Open's audit of the ID map costs against the whole Open, on one
// store of 50,000 memories with caller IDs (the case where the map holds an entry per
// memory) and 384-dimensional embeddings. "open" is a read-only Open (load, indexes,
// audit included); "walk" and "audit" isolate the audit's own work (see below). The
// audit's share of Open is (audit − walk) / open.
func BenchmarkOpenAudit(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.db")
	s, err := Open(path, WithNoSync())
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	sp, _ := s.Space(context.Background(), "caller", WithIndex(IndexFlat))
	for batch := 0; batch < 10; batch++ {
		mems := make([]Memory, 5000)
		for i := range mems {
			mems[i] = Memory{ID: fmt.Sprintf("doc-%08d", r.IntN(1<<30)), Embedding: randUnit(r, 384)}
		}
		if _, err := sp.BatchRemember(context.Background(), mems); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(path, WithReadOnly())
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	// The audit rides on the load's walk, which parses every record anyway: "walk" is that
	// walk alone, "audit" the walk with the audit; their difference is what the audit adds.
	for _, audit := range []bool{false, true} {
		b.Run(map[bool]string{false: "walk", true: "audit"}[audit], func(b *testing.B) {
			db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			names := namesOf("caller")
			for b.Loop() {
				db.View(func(tx *bolt.Tx) error {
					bk, _ := openSpaceTx(tx, &names)
					var a idLoadAudit
					c := bk.recs.Cursor()
					for k, v := c.First(); k != nil; k, v = c.Next() {
						seq, _ := codec.KeySeq(k)
						if view, err := codec.Parse(v); err == nil && audit {
							a.record(seq, &view)
						}
					}
					if !audit {
						return nil
					}
					if m, ok := mapPrint(bk, a.damaged); !ok || m != a.records {
						b.Fatal("the audit of a sound map failed")
					}
					return nil
				})
			}
		})
	}
}
