package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/engram-go/engram"
)

// Option tunes Import, Rows, Export and Sync. Each says which of them it applies to; the
// others ignore it.
type Option func(*config) error

type config struct {
	batchSize  int
	inFlight   int
	pageSize   int
	retries    int
	method     Method
	resume     bool
	checkpoint string
	count      bool
	progress   func(Progress)
	onRowError func(*RowError)
	insert     bool
	// cp replaces the space's own checkpoint store (tests).
	cp checkpointer
}

// Defaults. A batch of 1000 is the size the store's batch figures are measured at; two in
// flight overlap one batch's index insertion with the next one's commit (as RememberAll
// does). Pages of 10,000 rows keep each query short (no snapshot held for the whole
// import) at one extra index probe per page.
const (
	DefaultBatchSize = 1000
	DefaultInFlight  = 2
	DefaultPageSize  = 10_000
	DefaultRetries   = 3
)

func newConfig(opts []Option) (*config, error) {
	c := &config{batchSize: DefaultBatchSize, inFlight: DefaultInFlight, pageSize: DefaultPageSize, retries: DefaultRetries}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BatchSize sets the memories per BatchRemember call (Import) and the rows per INSERT
// statement (Export and Sync to a vector column), default DefaultBatchSize.
func BatchSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > engram.DefaultLimits.MaxBatch {
			return fmt.Errorf("postgres: BatchSize %d is outside 1-%d", n, engram.DefaultLimits.MaxBatch)
		}
		c.batchSize = n
		return nil
	}
}

// InFlight sets how many BatchRemember calls an Import runs at once (default
// DefaultInFlight); they share commits through the store's group commit.
func InFlight(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("postgres: InFlight %d is outside 1-64", n)
		}
		c.inFlight = n
		return nil
	}
}

// PageSize sets the rows per keyset query (Import, Rows), default DefaultPageSize.
func PageSize(n int) Option {
	return func(c *config) error {
		if n < 2 {
			return fmt.Errorf("postgres: PageSize %d is below 2", n)
		}
		c.pageSize = n
		return nil
	}
}

// Retries sets how many times in a row a read reconnects after losing its connection
// (the backend terminated, the server restarted, the network dropped) before giving up
// (Import, Rows), default DefaultRetries; 0 gives up at once. Only a keyed source can
// continue after the last row it read; a source without a key never retries.
func Retries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("postgres: Retries %d is negative", n)
		}
		c.retries = n
		return nil
	}
}

// ReadWith chooses how rows are read (Import, Rows). The default, MethodCopy, was the
// faster in `go run ./bench pg` (see the README); MethodQuery is there for servers or
// proxies that do not support COPY.
func ReadWith(m Method) Option {
	return func(c *config) error {
		if m != MethodCopy && m != MethodQuery {
			return fmt.Errorf("postgres: unknown read method %d", m)
		}
		c.method = m
		return nil
	}
}

// Resume continues an Import after the last key its checkpoint recorded (from the start
// when there is none). Without it an Import starts from the start; rows imported before
// are then replaced, not duplicated, as their IDs come from the key.
func Resume() Option {
	return func(c *config) error { c.resume = true; return nil }
}

// CheckpointName names the checkpoint an Import records its progress under, or a Sync
// its watermark (default: derived from the source or the table). Two imports into one
// space need distinct names only if they read the same source with the same key.
func CheckpointName(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("postgres: empty checkpoint name")
		}
		c.checkpoint = name
		return nil
	}
}

// CountRows makes an Import count the rows it will read first (one count(*) over the
// source), so that Progress has a Total for an ETA.
func CountRows() Option {
	return func(c *config) error { c.count = true; return nil }
}

// OnProgress calls fn after each committed batch (Import) or written batch (Export,
// Sync), from one goroutine at a time.
func OnProgress(fn func(Progress)) Option {
	return func(c *config) error { c.progress = fn; return nil }
}

// OnRowError calls fn for each row an Import could not import, in row order, from one
// goroutine at a time. The result keeps only the first MaxReported of them.
func OnRowError(fn func(*RowError)) Option {
	return func(c *config) error { c.onRowError = fn; return nil }
}

// UseInsert makes Export and Sync write with multi-row INSERT statements instead of COPY
// FROM, for servers whose COPY FROM does not work (PGlite). Writes to a pgvector column
// always use INSERT (see Export).
func UseInsert() Option {
	return func(c *config) error { c.insert = true; return nil }
}

// Progress is a snapshot of a running Import, Export or Sync.
type Progress struct {
	Read     int64 // rows read (Import) or memories read from the space (Export, Sync)
	Stored   int64 // memories stored (Import) or rows written (Export, Sync)
	Replaced int64 // stored memories that replaced one with the same ID (Import)
	Failed   int64 // rows not imported (Import) or memories not exported
	// Total is the number of rows the Import will read (with CountRows) or the space's
	// size (Export, Sync); -1 when unknown.
	Total   int64
	Elapsed time.Duration
}

// checkpointer is where an import or a sync keeps its progress: the space itself
// (Space.Checkpoint, SetCheckpoint), or a stand-in in tests.
type checkpointer interface {
	Checkpoint(ctx context.Context, name string) ([]byte, error)
	SetCheckpoint(ctx context.Context, name string, value []byte) error
}

func (c *config) checkpoints(sp *engram.Space) checkpointer {
	if c.cp != nil {
		return c.cp
	}
	return sp
}
