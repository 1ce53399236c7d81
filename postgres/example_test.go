package postgres_test

// The examples need a PostgreSQL server, so they are compiled but not run (no Output
// comments); the tests run the same calls against real servers.

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Import a table of documents with a pgvector column: the key (id) orders the import and
// makes it resumable, so a second run with Resume picks up after the last committed row.
func ExampleImport() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := engram.Open("memories.db")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	docs, err := store.Space(ctx, "docs")
	if err != nil {
		log.Fatal(err)
	}
	res, err := postgres.Import(ctx, pool, docs, postgres.Source{
		Table:           "documents",
		Mapping:         postgres.Mapping{Content: "body", Embedding: "vec", Metadata: "attrs"},
		MetadataColumns: []string{"author"},
	}, postgres.Resume(), postgres.OnRowError(func(e *postgres.RowError) {
		log.Printf("skipped row %s: %s in column %s: %s", e.Key, e.Code, e.Column, e.Message())
	}))
	if err != nil {
		log.Fatal(err) // rerunning with Resume continues after res.LastKey
	}
	fmt.Println(res.Stored, "stored,", res.Failed, "failed")
}

// Stream the rows of a query as memories, to transform them before storing.
func ExampleRows() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	src := postgres.Source{Query: "SELECT id, title || ': ' || body AS content, embedding FROM articles WHERE published"}
	for row, err := range postgres.Rows(ctx, pool, src) {
		if err != nil {
			log.Println(err) // a *RowError for one bad row; anything else ends the loop
			continue
		}
		row.Memory.Tags = append(row.Memory.Tags, "article")
		fmt.Println(row.Key, len(row.Memory.Embedding))
	}
}

// Write a space to a new table with a pgvector column and an HNSW index.
func ExampleExport() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := engram.Open("memories.db", engram.WithReadOnly())
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sp, err := store.LookupSpace("docs")
	if err != nil {
		log.Fatal(err)
	}
	res, err := postgres.Export(ctx, pool, sp, postgres.Target{Table: "docs_mirror", Create: true, Vector: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Written, "rows written; HNSW index:", res.Indexed)
}

// Keep a server table following the embedded store: run it after each batch of changes.
func ExampleSync() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := engram.Open("memories.db")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sp, err := store.Space(ctx, "docs")
	if err != nil {
		log.Fatal(err)
	}
	res, err := postgres.Sync(ctx, pool, sp, postgres.Target{Table: "docs_mirror", Create: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d written (%d updated), %d unchanged, %d deleted\n", res.Written, res.Updated, res.Unchanged, res.Deleted)
}
