package engram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/engram-go/engram/internal/ids"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/errgroup"
)

// Store is an open engram file. Create one with Open and release it with Close.
//
// Lock order. A goroutine holding one of these takes only locks listed after it:
//
//	Store.flushMu → Store.mu → Space.mu (read) → bbolt's writer lock (a write transaction)
//	Space.migrateMu → committer (a write transaction) → the write's turn → Space.mu → tierState.mu
//
// accessTracker.mu is taken inside write transactions (Forget) and alone; committer.mu,
// turnstile.mu, gate.mu, Space.feedMu and the indexes' own locks are leaves, held for a few
// instructions. A turn (Space.turn) orders like a lock: a write takes it after its commit
// returned, never inside a transaction, and never while holding Store.mu.
type Store struct {
	db    *bolt.DB
	path  string
	opts  options
	log   *slog.Logger
	ids   *ids.Generator
	gate  gate
	limit Limits

	mu     sync.Mutex // guards spaces and drops, and serializes space create / drop
	spaces map[string]*Space
	drops  map[string]chan struct{} // spaces being dropped: closed when the drop ends

	commit committer // group commit of space writes (commit.go)

	migrateWake chan struct{} // nil when background migration is off
	migrateCtx  context.Context
	stopMigrate context.CancelFunc
	resident    residency
	tiered      atomic.Int32  // spaces with tiering: whether file pages are released
	draining    chan struct{} // closed when Close begins: writes no longer wait for hot room (they commit over capacity)
	closeOnce   sync.Once
	closeErr    error
	migrateDone chan struct{}

	flushMu   sync.Mutex
	flushStop chan struct{}
	flushDone chan struct{}

	tempDir string // OpenTemp's directory, removed by Close (opentemp.go)
}

// Open opens the store file at path, creating it if needed (unless read-only), and loads
// every space and its index. It fails with LOCKED if another Store holds the file for
// writing after the lock timeout (WithLockTimeout), and with CORRUPT if the file is not an
// engram store or a stored value fails its checksum.
func Open(path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, newErr(CodeInvalidOption, OpOpen, "", err.Error(), nil)
		}
	}
	start := time.Now()
	timeout := o.lockTimeout
	if timeout == 0 {
		timeout = time.Nanosecond // bbolt treats 0 as "wait forever"; we mean "try once"
	}
	db, err := openBolt(path, o.fileMode, &bolt.Options{
		Timeout:      timeout,
		NoSync:       o.noSync,
		ReadOnly:     o.readOnly,
		FreelistType: bolt.FreelistMapType,
		// The free-page list is written with every commit (NoFreelistSync off): without it,
		// Open rebuilds the list by walking every page in a goroutine of bbolt's own, where
		// a damaged page would crash the process instead of failing Open. Measured cost of
		// the extra page per fsync'd commit: within noise (about 1%).
		InitialMmapSize: o.initialMmap,
	})
	if err != nil {
		return nil, openErr(path, err)
	}
	s := &Store{
		db:     db,
		path:   path,
		opts:   o,
		log:    o.logger.With("store", path),
		ids:    ids.New(),
		limit:  o.limits,
		spaces: make(map[string]*Space),
		drops:  make(map[string]chan struct{}),

		draining: make(chan struct{}),
	}
	s.commit.env = commitEnv{update: s.updateTx, onCommit: issueTickets}
	if o.wrapCommit != nil {
		s.commit.env = o.wrapCommit(s.commit.env)
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadSpaces(); err != nil {
		db.Close()
		return nil, err
	}
	s.releaseFilePages(true) // loading read every record of the tiered spaces
	if !o.readOnly && o.accessFlush > 0 {
		s.flushStop = make(chan struct{})
		s.flushDone = make(chan struct{})
		go s.flushLoop(o.accessFlush)
	}
	if !o.readOnly && o.migrateEvery > 0 {
		s.migrateWake = make(chan struct{}, 1)
		s.migrateDone = make(chan struct{})
		s.migrateCtx, s.stopMigrate = context.WithCancel(context.Background())
		go s.migrateLoop(o.migrateEvery)
	}
	s.log.Info("engram store opened", "spaces", len(s.spaces), "read_only", o.readOnly,
		"no_sync", o.noSync, "elapsed", time.Since(start))
	return s, nil
}

// openBolt is bolt.Open guarded against damaged files: a truncated file is refused before
// bbolt maps it (preflight), and a panic or memory fault while bbolt reads its meta and
// free-list pages becomes an error.
func openBolt(path string, mode os.FileMode, opts *bolt.Options) (db *bolt.DB, err error) {
	if err := preflight(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", berrors.ErrInvalid, r)
		}
	}()
	return bolt.Open(path, mode, opts)
}

// init checks that the file is an engram store of a format this code reads, and gives a
// new one its top-level buckets. It looks before it writes, for two reasons: a bbolt
// database of another application (buckets, but no engram marker) must be refused and left
// byte for byte as it was, and reopening an existing store must not need a write (a store
// must open, read-only or not, on a full disk). An empty database — a new file, or one
// whose first transaction never committed — becomes a store.
func (s *Store) init() error {
	var fresh bool
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var names []string
			tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				if names = append(names, string(name)); len(names) == 3 {
					return errStopWalk
				}
				return nil
			})
			if len(names) > 0 {
				return newErr(CodeCorrupt, OpOpen, "", fmt.Sprintf("%s is a bbolt database but not an engram store "+
					"(it has buckets such as %q and no %q marker); it was left as it is", s.path, names, bucketMeta), nil)
			}
			fresh = true
			return nil
		}
		if f := meta.Get(keyFormat); len(f) != 1 || f[0] < 1 || f[0] > storeFormat {
			return newErr(CodeCorrupt, OpOpen, "", fmt.Sprintf("unsupported store format %v", f), nil)
		} else if f[0] != storeFormat || tx.Bucket(bucketSpaces) == nil {
			fresh = true // format 1, upgraded below
		}
		return nil
	})
	if err != nil || !fresh || s.opts.readOnly {
		return err
	}
	return s.update(context.Background(), func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if f := meta.Get(keyFormat); len(f) != 1 || f[0] != storeFormat { // new, or format 1
			if err := meta.Put(keyFormat, []byte{storeFormat}); err != nil {
				return err
			}
		}
		_, err = tx.CreateBucketIfNotExists(bucketSpaces)
		return err
	})
}

// errStopWalk ends a bbolt ForEach early.
var errStopWalk = errors.New("stop")

// loadSpaces opens every stored space and rebuilds its index, spaces in parallel.
func (s *Store) loadSpaces() error {
	var names []string
	if err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSpaces)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	}); err != nil {
		return err
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(max(1, min(len(names), maxParallel())))
	for _, name := range names {
		g.Go(func() error {
			sp, err := loadSpace(s, name)
			if err != nil {
				return err
			}
			mu.Lock()
			s.addSpace(sp)
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// Close drains the space's batchers and streams (committing everything they accepted),
// waits for calls in flight, flushes pending access statistics, saves the graph index of
// every space whose graph changed (see Space.Snapshot), and releases the file. It returns
// in bounded time, whatever batchers and streams exist (see Stream.Close).
//
// Close always releases the file, and the store it leaves is consistent: everything
// committed is durable. What Close saves on the way is derived data — a graph snapshot
// spares the next Open a rebuild, the access statistics rank recalls — so when saving it
// fails (a full disk), Close still closes and returns a CLOSED error (not retryable: the
// store is closed, and a second Close has nothing left to do) that wraps what failed, so
// errors.Is(err, ErrStorage) tells a disk problem; the next Open rebuilds the graph from
// the records. Calls made after Close fail with CLOSED. Later and concurrent calls of Close
// wait for the first to finish (the file is released when any returns) and return its
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	if s.gate.isClosed() {
		return nil
	}
	// Batchers and streams first: they commit what they accepted while the store is open.
	// Their writes do not wait for hot-tier room (a full hot tier with the migrator off
	// would hold Close forever): a queue's worth over capacity is demoted after the next
	// Open. Streams whose acks nobody reads drop them (Stream.Close): Close is bounded.
	close(s.draining)
	for _, sp := range s.spaceList() {
		sp.closeFeeds()
	}
	if s.stopMigrate != nil {
		s.stopMigrate() // a cycle in progress stops after its current batch
		<-s.migrateDone
	}
	if !s.gate.close() {
		return nil
	}
	if s.flushStop != nil {
		close(s.flushStop)
		<-s.flushDone
	}
	var errs []error
	msg := "the store is closed and consistent, but saving derived state failed (nothing committed is lost; the next Open rebuilds it)"
	if !s.opts.readOnly {
		if err := s.flushAccess(); err != nil {
			errs = append(errs, err)
		}
		for _, sp := range s.spaceList() {
			if err := sp.snapshot(context.Background()); err != nil {
				errs = append(errs, err)
			}
		}
		if s.opts.noSync {
			if err := s.db.Sync(); err != nil {
				errs = append(errs, storageErr(OpClose, "", err))
				msg = "the store is closed, but its final sync failed: writes since the last successful Sync may not survive a machine crash"
			}
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, storageErr(OpClose, "", err))
	}
	if err := s.removeTemp(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	// CLOSED, wrapping the causes: Close cannot be retried (the file is released), and
	// errors.Is(err, ErrStorage) / ErrAccess still tell what failed.
	return newErr(CodeClosed, OpClose, "", msg, errors.Join(errs...))
}

// Sync writes pending access statistics and, under WithNoSync, fsyncs the file, so that
// everything written before the call is durable.
func (s *Store) Sync() error {
	if !s.gate.enter() {
		return newErr(CodeClosed, OpSync, "", "", nil)
	}
	defer s.gate.exit()
	if s.opts.readOnly {
		return nil
	}
	if err := s.flushAccess(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return newErr(CodeStorage, OpSync, "", "", err)
	}
	return nil
}

// Path returns the store's file path.
func (s *Store) Path() string { return s.path }

// Limits returns the limits the store enforces.
func (s *Store) Limits() Limits { return s.limit }

// NewID returns a fresh generated memory ID: 26 characters, unique within the store,
// increasing in the order the store hands them out (so roughly by creation time).
func (s *Store) NewID() string { return s.ids.Next() }

// StoreStats describes a store at one moment.
type StoreStats struct {
	Path      string
	FileBytes int64 // size of the store file
	ReadOnly  bool
	NoSync    bool
	Spaces    []SpaceStats // sorted by name
}

// Stats returns the store's statistics and those of every space.
func (s *Store) Stats() StoreStats {
	stats := StoreStats{Path: s.path, ReadOnly: s.opts.readOnly, NoSync: s.opts.noSync}
	if fi, err := os.Stat(s.path); err == nil {
		stats.FileBytes = fi.Size()
	}
	for _, sp := range s.spaceList() {
		stats.Spaces = append(stats.Spaces, sp.Stats())
	}
	slices.SortFunc(stats.Spaces, func(a, b SpaceStats) int { return strings.Compare(a.Name, b.Name) })
	return stats
}
