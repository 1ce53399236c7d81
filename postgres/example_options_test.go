package postgres_test

// The option examples need a PostgreSQL server, so, like the others, they are compiled
// but not run (no Output comments); the tests run the same calls against real servers.
// ExampleRowError_Message needs no server and runs.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connect opens the server named by DATABASE_URL and the space "docs" of a local store;
// done closes both.
func connect(ctx context.Context) (*pgxpool.Pool, *engram.Space, func()) {
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := engram.Open("memories.db")
	if err != nil {
		log.Fatal(err)
	}
	sp, err := store.Space(ctx, "docs")
	if err != nil {
		log.Fatal(err)
	}
	return pool, sp, func() { store.Close(); pool.Close() }
}

// BatchSize sets how many memories one BatchRemember call stores (Import), or how many
// rows one INSERT writes (Export and Sync to a pgvector column). Larger batches share a
// commit among more memories; smaller ones hold less in memory and lose less to a
// failed batch.
func ExampleBatchSize() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	res, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"},
		postgres.BatchSize(5000))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Stored)
}

// CheckpointName names the checkpoint an Import resumes from. Two imports of the same
// source and key into one space (say, two filtered halves of a table) need distinct
// names, or each would resume after the other's last row.
func ExampleCheckpointName() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	for _, lang := range []string{"en", "de"} {
		_, err := postgres.Import(ctx, pool, sp, postgres.Source{
			Query: "SELECT id, body AS content, embedding FROM documents WHERE lang = '" + lang + "'",
			Key:   "id",
		}, postgres.Resume(), postgres.CheckpointName("documents-"+lang))
		if err != nil {
			log.Fatal(err)
		}
	}
}

// CountRows counts the source's rows first (one count(*)), so that progress reports
// have a Total and a long import can show an ETA.
func ExampleCountRows() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	_, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"},
		postgres.CountRows(),
		postgres.OnProgress(func(p postgres.Progress) {
			if p.Stored > 0 && p.Total > 0 {
				left := time.Duration(float64(p.Elapsed) * float64(p.Total-p.Read) / float64(p.Read))
				log.Printf("%d of %d rows, about %v left", p.Read, p.Total, left.Round(time.Second))
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
}

// InFlight sets how many BatchRemember calls an Import runs at once; they share
// commits through the store's group commit, which hides the fsync of one batch behind
// the conversion of the next.
func ExampleInFlight() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	if _, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"},
		postgres.InFlight(4)); err != nil {
		log.Fatal(err)
	}
}

// OnProgress reports after each committed (Import) or written (Export, Sync) batch,
// from one goroutine at a time, e.g. for a progress bar or a log line.
func ExampleOnProgress() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	res, err := postgres.Export(ctx, pool, sp, postgres.Target{Table: "docs_mirror", Create: true},
		postgres.OnProgress(func(p postgres.Progress) {
			log.Printf("exported %d of %d memories in %v", p.Stored, p.Total, p.Elapsed.Round(time.Millisecond))
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Written)
}

// OnRowError sees every row an Import could not import, in row order (the result keeps
// only the first MaxReported): here written as JSON Lines to a rejects file, to fix
// and import again.
func ExampleOnRowError() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	rejects, err := os.Create("rejects.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	defer rejects.Close()
	enc := json.NewEncoder(rejects)
	res, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"},
		postgres.OnRowError(func(e *postgres.RowError) {
			enc.Encode(map[string]any{"key": e.Key, "column": e.Column, "code": e.Code, "message": e.Message()})
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Failed, "rows rejected; by code:", res.FailuresByCode)
}

// PageSize sets the rows per keyset query: larger pages mean fewer queries, smaller
// ones shorter-lived snapshots on a busy server.
func ExamplePageSize() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	if _, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"},
		postgres.PageSize(2000)); err != nil {
		log.Fatal(err)
	}
}

// ReadWith(MethodQuery) reads pages with an ordinary streamed query instead of COPY,
// for servers and proxies that do not support COPY (some poolers, PGlite).
func ExampleReadWith() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	res, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"},
		postgres.ReadWith(postgres.MethodQuery))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Method) // query
}

// Resume continues an Import after the last key its checkpoint recorded, so an import
// that was interrupted (killed, ctx ended, server lost for good) is simply run again.
func ExampleResume() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	res, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents"}, postgres.Resume())
	if err != nil {
		if res != nil { // nil when it failed before reading (a bad mapping, a lost server)
			log.Printf("stopped after key %q", res.LastKey)
		}
		log.Fatalf("%v (run again to continue)", err)
	}
	fmt.Printf("resumed after %q, stored %d more\n", res.ResumedAfter, res.Stored)
}

// Retries sets how many times in a row a keyed read reconnects after losing its
// connection (a server restart, a failover) and continues after the last row read.
func ExampleRetries() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	res, err := postgres.Import(ctx, pool, sp, postgres.Source{Table: "documents", Key: "id"},
		postgres.Retries(10))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Reconnects, "reconnects")
}

// UseInsert makes Export and Sync write with multi-row INSERTs instead of COPY FROM,
// for servers whose COPY FROM does not work (PGlite).
func ExampleUseInsert() {
	ctx := context.Background()
	pool, sp, done := connect(ctx)
	defer done()
	res, err := postgres.Sync(ctx, pool, sp, postgres.Target{Table: "docs_mirror", Create: true},
		postgres.UseInsert(), postgres.BatchSize(500))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Method) // insert
}

// Message is a RowError's detail without its coordinates or code, for reports that
// print those in columns of their own; Error has everything in one line.
func ExampleRowError_Message() {
	e := &postgres.RowError{
		Key: "42", Row: 7, Column: "vec", Code: postgres.CodeBadValue,
		Err: errors.New("embedding array has a NULL element"),
	}
	fmt.Printf("key=%s column=%s code=%s: %s\n", e.Key, e.Column, e.Code, e.Message())
	fmt.Println(e)
	// Output:
	// key=42 column=vec code=BAD_VALUE: embedding array has a NULL element
	// postgres: row key="42" column "vec": BAD_VALUE: embedding array has a NULL element
}
