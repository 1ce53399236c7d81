package postgres

import (
	"context"
	"iter"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Row is one source row converted to a memory.
type Row struct {
	Key    string // the key column's text form, "" without a key
	Row    int64  // position in the stream, from 1
	Memory engram.Memory
}

// Rows reads the rows of src as memories without storing them, for programs that
// transform or route them before calling BatchRemember themselves (ETL). It reads as
// Import does (keyset pages, the same Mapping, ReadWith, PageSize, Retries; BatchSize
// sets how many rows are read ahead). A row that does not convert is yielded with its
// *RowError and the iteration goes on; any other error is yielded once and ends it.
// Breaking out of the loop stops the read.
func Rows(ctx context.Context, pool *pgxpool.Pool, src Source, opts ...Option) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		cfg, err := newConfig(opts)
		if err != nil {
			yield(Row{}, err)
			return
		}
		p, err := resolve(ctx, pool, src)
		if err != nil {
			yield(Row{}, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rd := &reader{pool: pool, plan: p, method: cfg.method, pageSize: cfg.pageSize, batchSize: cfg.batchSize, retries: cfg.retries}
		conv, readDone := readAndConvert(ctx, rd)
		stopped := false
		for mb := range conv {
			if stopped {
				continue // drain: the stages see the cancel and close conv
			}
			// Interleave converted and failed rows back into row order.
			mi, fi := 0, 0
			for mi < len(mb.mems) || fi < len(mb.failed) {
				var ok bool
				if fi < len(mb.failed) && (mi == len(mb.mems) || mb.failed[fi].Row < mb.refs[mi].row) {
					e := mb.failed[fi]
					ok = yield(Row{Key: e.Key, Row: e.Row}, e)
					fi++
				} else {
					ok = yield(Row{Key: mb.refs[mi].key, Row: mb.refs[mi].row, Memory: mb.mems[mi]}, nil)
					mi++
				}
				if !ok {
					stopped = true
					cancel()
					break
				}
			}
		}
		if err := <-readDone; err != nil && !stopped {
			yield(Row{}, err)
		}
	}
}
