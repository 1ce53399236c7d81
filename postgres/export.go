package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/engram-go/engram"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ExportResult is what an Export or a Sync did.
type ExportResult struct {
	Read      int64 // memories read from the space
	Written   int64 // rows inserted or (Sync) updated
	Updated   int64 // Sync: of Written, rows that existed and changed
	Unchanged int64 // Sync: rows already equal to their memory
	Deleted   int64 // Sync: rows of memories no longer in the space
	// Skipped counts memories PostgreSQL cannot hold (a NUL character in their text);
	// SkippedIDs lists the first MaxReported with the reason.
	Skipped    int64
	SkippedIDs []string
	// Omitted lists default columns the existing table does not have, whose fields were
	// not written.
	Omitted []string
	Created bool   // the table was created
	Indexed bool   // an HNSW index was built on the new vector column
	Method  string // "copy" or "insert"
	Elapsed time.Duration
}

// Export writes every memory of sp to a table, in one transaction: all of them or, on an
// error, none. Rows go in with COPY FROM in binary format, or with multi-row INSERTs when
// the embedding column is pgvector's (BatchSize rows each; PGlite, which the vector paths
// are tested on, has no working COPY FROM) or with UseInsert. Embeddings are written as
// stored: unit-normalized. The table gets HashColumn when it has that column (Create
// makes it), so that a later Sync rewrites only what changed.
//
// Export adds rows: a memory whose ID the table already holds fails the export (the
// primary key); Sync is the way to bring a table up to date.
func Export(ctx context.Context, pool *pgxpool.Pool, sp *engram.Space, t Target, opts ...Option) (*ExportResult, error) {
	return write(ctx, pool, sp, t, opts, false)
}

// Sync makes a table mirror sp, in one transaction: memories that are new or changed
// since they were last written (any field: an update by BatchUpdate or UpdateWhere, a
// replacement under the same ID) are upserted by ID, rows of memories no longer in the
// space are deleted, and rows already equal are left untouched.
//
// Changes are found by content, not by time: each row carries a hash of what was written
// (HashColumn, added to the table if missing), and Sync compares it with the hash of each
// memory, so it needs no change log and catches in-place updates, which keep a memory's
// write order. It holds the table's IDs and hashes in memory (116 bytes a row with
// 26-character IDs, measured). Rows without a hash, inserted by someone else, are never
// deleted, and are overwritten when a memory has their ID. The table needs a unique index
// on its ID column (Create makes it the primary key). After a successful sync the space
// records when, which table and how many rows under a checkpoint (CheckpointName; default
// derived from the server and table).
func Sync(ctx context.Context, pool *pgxpool.Pool, sp *engram.Space, t Target, opts ...Option) (*ExportResult, error) {
	return write(ctx, pool, sp, t, opts, true)
}

// syncCheckpoint is the value a Sync records.
type syncCheckpoint struct {
	V         int       `json:"v"`
	Table     string    `json:"table"`
	Server    string    `json:"server"`
	At        time.Time `json:"at"`
	Rows      int64     `json:"rows"`
	Written   int64     `json:"written"`
	Unchanged int64     `json:"unchanged"`
	Deleted   int64     `json:"deleted"`
}

func write(ctx context.Context, pool *pgxpool.Pool, sp *engram.Space, t Target, opts []Option, sync bool) (res *ExportResult, err error) {
	start := time.Now()
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // no-op after Commit
	tg, err := prepareTarget(ctx, tx, sp, t, sync)
	if err != nil {
		return nil, err
	}
	res = &ExportResult{Created: tg.created, Omitted: tg.omitted, Method: "copy"}
	insert := cfg.insert || tg.vector
	if insert {
		res.Method = "insert"
	}
	var server map[string]serverRow
	if sync {
		if server, err = loadServer(ctx, tx, tg); err != nil {
			return nil, err
		}
	}
	w, err := newRowWriter(ctx, tx, tg, insert, sync, cfg.batchSize)
	if err != nil {
		return nil, err
	}
	total := int64(sp.Len())
	for m, err := range sp.All(ctx) {
		if err != nil {
			w.abort()
			return res, err
		}
		res.Read++
		st, onServer := server[m.ID]
		if onServer {
			delete(server, m.ID)
		}
		if why := unrepresentable(&m); why != "" {
			res.Skipped++
			if len(res.SkippedIDs) < MaxReported {
				res.SkippedIDs = append(res.SkippedIDs, m.ID+": "+why)
			}
			continue
		}
		h := rowHash(&m)
		if onServer && st.hashed && st.hash == h {
			res.Unchanged++
			continue
		}
		if err := w.write(&m, h); err != nil {
			w.abort()
			return res, exportErr(err, sync)
		}
		res.Written++
		if onServer {
			res.Updated++
		}
		if cfg.progress != nil && res.Read%1000 == 0 {
			cfg.progress(Progress{Read: res.Read, Stored: res.Written, Failed: res.Skipped, Total: total, Elapsed: time.Since(start)})
		}
	}
	if err := w.close(); err != nil {
		return res, exportErr(err, sync)
	}
	if sync {
		if res.Deleted, err = deleteGone(ctx, tx, tg, server); err != nil {
			return res, err
		}
	}
	if tg.created && tg.vector && sp.Dim() <= 2000 {
		col := pgx.Identifier{tg.embeddingColumn()}.Sanitize()
		if _, err := tx.Exec(ctx, "CREATE INDEX ON "+tg.ident+" USING hnsw ("+col+" vector_cosine_ops)"); err != nil {
			return res, fmt.Errorf("postgres: HNSW index: %w", err)
		}
		res.Indexed = true
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("postgres: commit: %w", err)
	}
	if cfg.progress != nil {
		cfg.progress(Progress{Read: res.Read, Stored: res.Written, Failed: res.Skipped, Total: total, Elapsed: time.Since(start)})
	}
	res.Elapsed = time.Since(start)
	if sync {
		cp := cfg.checkpoints(sp)
		server := serverName(pool)
		name := cfg.checkpoint
		if name == "" {
			sum := sha256.Sum256([]byte(server + "\x00" + tg.ident))
			name = "postgres-sync-" + hex.EncodeToString(sum[:8])
		}
		v, _ := json.Marshal(syncCheckpoint{V: 1, Table: tg.ident, Server: server, At: time.Now().UTC(),
			Rows: res.Read - res.Skipped, Written: res.Written, Unchanged: res.Unchanged, Deleted: res.Deleted})
		if err := cp.SetCheckpoint(ctx, name, v); err != nil {
			return res, fmt.Errorf("postgres: the sync committed, but recording it failed: %w", err)
		}
	}
	return res, nil
}

func (tg *target) embeddingColumn() string {
	for _, c := range tg.cols {
		if c.field == fEmbedding {
			return c.name
		}
	}
	return ""
}

// serverName identifies the server and database for the sync's record.
func serverName(pool *pgxpool.Pool) string {
	c := pool.Config().ConnConfig
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

func exportErr(err error, sync bool) error {
	var pgErr *pgconn.PgError
	if !sync && errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("postgres: export: %w (the table already holds a row with that ID: Sync updates a table in place)", err)
	}
	return fmt.Errorf("postgres: write rows: %w", err)
}

// serverRow is what Sync knows of a row already in the table.
type serverRow struct {
	hash   int64
	hashed bool // false: a row without a hash, not written by Export or Sync
}

// loadServer reads the table's IDs and hashes, after checking that the ID column is
// unique (ON CONFLICT needs it).
func loadServer(ctx context.Context, tx pgx.Tx, tg *target) (map[string]serverRow, error) {
	id := tg.idColumn()
	var unique bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = $2)`,
		tg.ident, strings.Trim(id, `"`)).Scan(&unique)
	if err != nil {
		return nil, fmt.Errorf("postgres: indexes of %s: %w", tg.ident, err)
	}
	if !unique {
		return nil, fmt.Errorf("postgres: sync needs a unique index (or primary key) on %s.%s", tg.ident, id)
	}
	rows, err := tx.Query(ctx, "SELECT "+id+"::text, "+HashColumn+" FROM "+tg.ident)
	if err != nil {
		return nil, fmt.Errorf("postgres: read %s: %w", tg.ident, err)
	}
	out := make(map[string]serverRow)
	for rows.Next() {
		var k string
		var h *int64
		if err := rows.Scan(&k, &h); err != nil {
			rows.Close()
			return nil, err
		}
		if h != nil {
			out[k] = serverRow{hash: *h, hashed: true}
		} else {
			out[k] = serverRow{}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read %s: %w", tg.ident, err)
	}
	return out, nil
}

// deleteGone deletes the rows Export or Sync wrote whose memory is gone.
func deleteGone(ctx context.Context, tx pgx.Tx, tg *target, left map[string]serverRow) (int64, error) {
	var ids []string
	var n int64
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, "DELETE FROM "+tg.ident+" WHERE "+tg.idColumn()+" = ANY($1::text[]) AND "+HashColumn+" IS NOT NULL", ids)
		if err != nil {
			return fmt.Errorf("postgres: delete forgotten rows: %w", err)
		}
		n += tag.RowsAffected()
		ids = ids[:0]
		return nil
	}
	for id, st := range left {
		if !st.hashed {
			continue
		}
		ids = append(ids, id)
		if len(ids) == 10_000 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// rowWriter sends rows to the table: write buffers, close finishes (abort gives up).
type rowWriter interface {
	write(m *engram.Memory, h int64) error
	close() error
	abort()
}

func newRowWriter(ctx context.Context, tx pgx.Tx, tg *target, insert, upsert bool, batch int) (rowWriter, error) {
	if insert {
		return &insertWriter{ctx: ctx, tx: tx, tg: tg, upsert: upsert, batch: batch}, nil
	}
	dest := tg.ident
	if upsert {
		// COPY cannot upsert: rows go to a staging table, merged into the target at close.
		dest = "pg_temp.engram_sync_stage"
		if _, err := tx.Exec(ctx, "CREATE TEMP TABLE engram_sync_stage ON COMMIT DROP AS SELECT "+tg.columnList()+" FROM "+tg.ident+" WITH NO DATA"); err != nil {
			return nil, fmt.Errorf("postgres: staging table: %w", err)
		}
	}
	pr, pw := io.Pipe()
	cw := &copyWriter{ctx: ctx, tx: tx, tg: tg, pw: pw, upsert: upsert, done: make(chan error, 1)}
	cw.enc = copyEncoder{cols: tg.cols}
	cw.enc.header()
	go func() {
		_, err := tx.Conn().PgConn().CopyFrom(ctx, pr, "COPY "+dest+" ("+tg.columnList()+") FROM STDIN (FORMAT binary)")
		pr.CloseWithError(errors.Join(err, io.ErrClosedPipe)) // unblock the writer if the server stopped reading
		cw.done <- err
	}()
	return cw, nil
}

// copyWriter streams binary COPY data through a pipe to CopyFrom, in 256 KiB writes.
type copyWriter struct {
	ctx    context.Context
	tx     pgx.Tx
	tg     *target
	enc    copyEncoder
	pw     *io.PipeWriter
	upsert bool
	done   chan error
}

func (w *copyWriter) write(m *engram.Memory, h int64) error {
	w.enc.row(m, h)
	if len(w.enc.buf) >= 256<<10 {
		return w.send()
	}
	return nil
}

func (w *copyWriter) send() error {
	_, err := w.pw.Write(w.enc.buf)
	w.enc.buf = w.enc.buf[:0]
	if err != nil {
		w.pw.Close()
		return <-w.done // the server's error says more than the closed pipe
	}
	return nil
}

func (w *copyWriter) close() error {
	w.enc.trailer()
	if err := w.send(); err != nil {
		return err
	}
	w.pw.Close()
	if err := <-w.done; err != nil {
		return err
	}
	if w.upsert {
		_, err := w.tx.Exec(w.ctx, "INSERT INTO "+w.tg.ident+" ("+w.tg.columnList()+") SELECT "+w.tg.columnList()+
			" FROM pg_temp.engram_sync_stage"+onConflict(w.tg))
		return err
	}
	return nil
}

func (w *copyWriter) abort() {
	w.pw.CloseWithError(errors.New("export aborted"))
	<-w.done
}

// onConflict is the upsert clause: every written column takes the new value.
func onConflict(tg *target) string {
	var sets []string
	for _, c := range tg.cols {
		if c.field != fID {
			n := pgx.Identifier{c.name}.Sanitize()
			sets = append(sets, n+" = EXCLUDED."+n)
		}
	}
	return " ON CONFLICT (" + tg.idColumn() + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

// insertWriter writes rows with multi-row INSERT statements of batch rows.
type insertWriter struct {
	ctx    context.Context
	tx     pgx.Tx
	tg     *target
	upsert bool
	batch  int
	args   []any
	rows   int
}

func (w *insertWriter) write(m *engram.Memory, h int64) error {
	for _, c := range w.tg.cols {
		w.args = append(w.args, insertValue(c, m, h))
	}
	w.rows++
	if w.rows >= w.batch || len(w.args)+len(w.tg.cols) > 65535 {
		return w.flush()
	}
	return nil
}

func insertValue(c outColumn, m *engram.Memory, h int64) any {
	switch c.field {
	case fID:
		return m.ID
	case fContent:
		return m.Content
	case fEmbedding:
		switch c.kind {
		case oVector:
			return vectorText(m.Embedding)
		case oFloat8Array:
			f := make([]float64, len(m.Embedding))
			for i, v := range m.Embedding {
				f[i] = float64(v)
			}
			return f
		case oBytea:
			e := copyEncoder{}
			e.floats(oBytea, m.Embedding)
			return e.buf
		}
		return m.Embedding
	case fConfidence:
		if c.kind == oFloat8 {
			return float64(m.Conf())
		}
		return m.Conf()
	case fCreatedAt:
		return pgEpoch.Add(time.Duration(micros(m.CreatedAt)) * time.Microsecond) // exact microseconds
	case fMetadata:
		return string(metadataJSON(m.Metadata))
	case fTags:
		if m.Tags == nil {
			return []string{}
		}
		return m.Tags
	}
	return h
}

// placeholder is a column's parameter, cast where pgx has no encoding of its own.
func placeholder(c outColumn, n int) string {
	p := fmt.Sprintf("$%d", n)
	switch c.kind {
	case oVector:
		return p + "::text::vector"
	case oJSONB:
		return p + "::text::jsonb"
	case oJSON:
		return p + "::text::json"
	}
	return p
}

func (w *insertWriter) flush() error {
	if w.rows == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + w.tg.ident + " (" + w.tg.columnList() + ") VALUES ")
	n := 0
	for r := range w.rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i, c := range w.tg.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteString(placeholder(c, n))
		}
		b.WriteByte(')')
	}
	if w.upsert {
		b.WriteString(onConflict(w.tg))
	}
	_, err := w.tx.Exec(w.ctx, b.String(), w.args...)
	w.args, w.rows = w.args[:0], 0
	return err
}

func (w *insertWriter) close() error { return w.flush() }
func (w *insertWriter) abort()       {}
