package main

// `engram import --from postgres://…` and `engram export --to postgres://…`: the CLI side
// of package postgres. The flags are embedded into importCmd and exportCmd, whose Run
// hands over here when --from / --to is given.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/postgres"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// pgImportFlags are importCmd's flags for PostgreSQL sources.
type pgImportFlags struct {
	From            string            `group:"PostgreSQL" placeholder:"DSN" help:"Import from PostgreSQL instead of a file: a connection string (postgres://user@host:port/db?sslmode=..., or key=value pairs)."`
	Query           string            `group:"PostgreSQL" help:"With --from: the SELECT whose rows are imported."`
	Table           string            `group:"PostgreSQL" help:"With --from: the table or view to import."`
	Key             string            `group:"PostgreSQL" help:"Unique key column that orders the import and makes it resumable (default: the id column)."`
	Resume          bool              `group:"PostgreSQL" help:"Continue the last import of this source into this space after its last committed key."`
	Errors          string            `group:"PostgreSQL" type:"path" help:"Write every row that was not imported to this file, as JSON Lines (key, row, id, column, code, message)."`
	Map             map[string]string `group:"PostgreSQL" placeholder:"FIELD=COLUMN" help:"Column of a field not named like it, e.g. --map embedding=vec --map content=body (fields: id, content, embedding, confidence, created_at, metadata, tags; COLUMN '-' leaves a field out)."`
	MetadataColumns []string          `group:"PostgreSQL" name:"metadata-columns" help:"More columns to store as metadata entries named after the column."`
	Read            string            `group:"PostgreSQL" enum:"copy,query" default:"copy" help:"How rows are read: COPY TO STDOUT (copy) or a streamed query (query), for servers without COPY."`
}

// pgExportFlags are exportCmd's flags for PostgreSQL targets.
type pgExportFlags struct {
	To     string            `group:"PostgreSQL" placeholder:"DSN" help:"Export to PostgreSQL instead of JSON Lines: a connection string."`
	Table  string            `group:"PostgreSQL" help:"With --to: the table to write ([schema.]name)."`
	Create bool              `group:"PostgreSQL" help:"Create the table if it does not exist."`
	Sync   bool              `group:"PostgreSQL" help:"Make the table mirror the space: upsert new and changed memories by ID, delete rows of forgotten ones (opens the store for writing, to record the sync)."`
	Vector bool              `group:"PostgreSQL" help:"With --create: the embedding column is pgvector's vector(N), with an HNSW cosine index."`
	Insert bool              `group:"PostgreSQL" help:"Write with multi-row INSERTs instead of COPY FROM (for servers without COPY FROM, e.g. PGlite)."`
	Map    map[string]string `group:"PostgreSQL" placeholder:"FIELD=COLUMN" help:"Column of a field not named like it (as for import)."`
}

func parseMapping(m map[string]string) (postgres.Mapping, error) {
	var out postgres.Mapping
	for field, col := range m {
		switch field {
		case "id":
			out.ID = col
		case "content":
			out.Content = col
		case "embedding":
			out.Embedding = col
		case "confidence":
			out.Confidence = col
		case "created_at":
			out.CreatedAt = col
		case "metadata":
			out.Metadata = col
		case "tags":
			out.Tags = col
		default:
			return out, usagef("--map %s: unknown field (want id, content, embedding, confidence, created_at, metadata or tags)", field)
		}
	}
	return out, nil
}

// connect opens a pool for a DSN. PGlite (and poolers in transaction mode) cannot keep
// named prepared statements, so a DSN may say default_query_exec_mode=describe_exec.
func connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("connection string: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "engram"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

func (c *importCmd) runPostgres() error {
	if c.File != "" {
		return usagef("give either a FILE or --from, not both")
	}
	if (c.Query == "") == (c.Table == "") {
		return usagef("--from needs exactly one of --query and --table")
	}
	if c.Batch < 1 || c.Batch > engram.DefaultLimits.MaxBatch {
		return usagef("--batch %d is outside 1-%d", c.Batch, engram.DefaultLimits.MaxBatch)
	}
	mapping, err := parseMapping(c.Map)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	pool, err := connect(ctx, c.From)
	if err != nil {
		return err
	}
	defer pool.Close()

	var errFile *os.File
	var errEnc *json.Encoder
	if c.Errors != "" {
		if errFile, err = os.Create(c.Errors); err != nil {
			return err
		}
		defer errFile.Close()
		errEnc = json.NewEncoder(errFile)
	}
	// Rows with content and no embedding are embedded inside BatchRemember when an
	// embedder is given (--embedder); without one they fail with INVALID_EMBEDDING.
	embedder, err := c.Embed.build(ctx, c.Dim)
	if err != nil {
		return err
	}
	store, err := engram.Open(c.Path)
	if err != nil {
		return err
	}
	sopts := spaceOption(embedder)
	if c.Dim > 0 {
		sopts = append(sopts, engram.WithDimension(c.Dim))
	}
	sp, err := store.Space(ctx, c.Space, sopts...)
	if err != nil {
		store.Close()
		return err
	}
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	var bar *progressbar.ProgressBar
	var written int64
	var writeErr error
	opts := []postgres.Option{postgres.BatchSize(c.Batch), postgres.OnRowError(func(e *postgres.RowError) {
		if errEnc != nil && writeErr == nil {
			writeErr = errEnc.Encode(rowErrorLine{Key: e.Key, Row: e.Row, ID: e.ID, Column: e.Column, Code: string(e.Code), Message: e.Message()})
		}
	})}
	if c.Read == "query" {
		opts = append(opts, postgres.ReadWith(postgres.MethodQuery))
	}
	if c.Resume {
		opts = append(opts, postgres.Resume())
	}
	if tty { // a bar with an ETA needs the row count: one count(*) first
		opts = append(opts, postgres.CountRows(), postgres.OnProgress(func(p postgres.Progress) {
			if bar == nil {
				bar = newRowBar(p.Total, "importing")
			}
			bar.Add64(p.Read - written)
			written = p.Read
		}))
	}
	src := postgres.Source{Query: c.Query, Table: c.Table, Key: c.Key, Mapping: mapping, MetadataColumns: c.MetadataColumns}
	res, err := postgres.Import(ctx, pool, sp, src, opts...)
	if bar != nil {
		bar.Finish()
	}
	closeErr := store.Close()
	if res != nil {
		what := c.Table
		if what == "" {
			what = "query"
		}
		fmt.Printf("import of %s into space %q of %s, %s (%.0f rows/s, %s):\n", what, c.Space, c.Path,
			res.Elapsed.Round(time.Millisecond), float64(res.Read)/max(res.Elapsed.Seconds(), 1e-9), res.Method)
		printPGImport(os.Stdout, res, c.Errors)
	}
	switch {
	case err != nil:
		return err
	case writeErr != nil:
		return fmt.Errorf("--errors %s: %w", c.Errors, writeErr)
	case closeErr != nil:
		return closeErr
	case res.Stored == 0 && res.Read > 0:
		return errors.New("nothing was imported")
	}
	return nil
}

// rowErrorLine is one line of the --errors file.
type rowErrorLine struct {
	Key     string `json:"key,omitempty"`
	Row     int64  `json:"row"`
	ID      string `json:"id,omitempty"`
	Column  string `json:"column,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func printPGImport(w io.Writer, res *postgres.ImportResult, errFile string) {
	if res.ResumedAfter != "" {
		fmt.Fprintf(w, "  resumed:     after key %q\n", res.ResumedAfter)
	}
	fmt.Fprintf(w, "  rows:        %d read, %d stored (%d replaced an existing memory)\n", res.Read, res.Stored, res.Replaced)
	if res.Failed > 0 {
		codes := slices.SortedFunc(maps.Keys(res.FailuresByCode), func(a, b postgres.Code) int {
			if n := res.FailuresByCode[b] - res.FailuresByCode[a]; n != 0 {
				return int(n)
			}
			return strings.Compare(string(a), string(b))
		})
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = fmt.Sprintf("%s %d", c, res.FailuresByCode[c])
		}
		fmt.Fprintf(w, "  failed:      %d (%s)\n", res.Failed, strings.Join(parts, ", "))
		for i, e := range res.Errors {
			if i == maxReported {
				break
			}
			fmt.Fprintf(w, "    %s\n", strings.TrimPrefix(e.Error(), "postgres: "))
		}
		if more := res.Failed - int64(min(len(res.Errors), maxReported)); more > 0 {
			fmt.Fprintf(w, "    ... and %d more", more)
			if errFile != "" {
				fmt.Fprintf(w, " (all in %s)", errFile)
			}
			fmt.Fprintln(w)
		}
	}
	if res.Reconnects > 0 {
		fmt.Fprintf(w, "  reconnects:  %d\n", res.Reconnects)
	}
	if res.LastKey != "" {
		fmt.Fprintf(w, "  checkpoint:  key %q (--resume continues after it)\n", res.LastKey)
	}
}

func (c *exportCmd) runPostgres() error {
	if c.File != "-" {
		return usagef("give either a FILE or --to, not both")
	}
	if c.Table == "" {
		return usagef("--to needs --table")
	}
	if c.Vector && !c.Create {
		return usagef("--vector applies when the table is created: add --create")
	}
	mapping, err := parseMapping(c.pgExportFlags.Map)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	pool, err := connect(ctx, c.To)
	if err != nil {
		return err
	}
	defer pool.Close()
	var sopts []engram.Option
	if !c.Sync { // a sync records itself in the store
		sopts = append(sopts, engram.WithReadOnly())
	}
	store, err := engram.Open(c.Path, sopts...)
	if err != nil {
		return err
	}
	defer store.Close()
	sp, err := store.LookupSpace(c.Space)
	if err != nil {
		return err
	}
	var opts []postgres.Option
	if c.Insert {
		opts = append(opts, postgres.UseInsert())
	}
	var bar *progressbar.ProgressBar
	var done int64
	if term.IsTerminal(int(os.Stderr.Fd())) {
		opts = append(opts, postgres.OnProgress(func(p postgres.Progress) {
			if bar == nil {
				bar = newRowBar(p.Total, "exporting")
			}
			bar.Add64(p.Read - done)
			done = p.Read
		}))
	}
	t := postgres.Target{Table: c.Table, Mapping: mapping, Create: c.Create, Vector: c.Vector}
	do, verb := postgres.Export, "export"
	if c.Sync {
		do, verb = postgres.Sync, "sync"
	}
	res, err := do(ctx, pool, sp, t, opts...)
	if bar != nil {
		bar.Finish()
	}
	if res != nil && err == nil {
		fmt.Fprintf(os.Stderr, "%s of space %q to table %s, %s (%.0f memories/s, %s):\n", verb, c.Space, c.Table,
			res.Elapsed.Round(time.Millisecond), float64(res.Read)/max(res.Elapsed.Seconds(), 1e-9), res.Method)
		if res.Created {
			fmt.Fprintf(os.Stderr, "  created:     %s", c.Table)
			if res.Indexed {
				fmt.Fprint(os.Stderr, " with an HNSW cosine index")
			}
			fmt.Fprintln(os.Stderr)
		}
		fmt.Fprintf(os.Stderr, "  memories:    %d read, %d written", res.Read, res.Written)
		if c.Sync {
			fmt.Fprintf(os.Stderr, " (%d updated), %d unchanged, %d deleted", res.Updated, res.Unchanged, res.Deleted)
		}
		fmt.Fprintln(os.Stderr)
		if len(res.Omitted) > 0 {
			fmt.Fprintf(os.Stderr, "  not written: %s (the table has no such columns)\n", strings.Join(res.Omitted, ", "))
		}
		for _, s := range res.SkippedIDs {
			fmt.Fprintf(os.Stderr, "  skipped:     %s\n", s)
		}
	}
	if err != nil {
		return err
	}
	if res.Skipped > 0 {
		return fmt.Errorf("%d memories cannot be held by PostgreSQL and were left out", res.Skipped)
	}
	return nil
}

// newRowBar is a progress bar counting rows with their rate and, when total is known, an
// ETA; on standard error, drawn only on a terminal (the callers check).
func newRowBar(total int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}
