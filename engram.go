// Package engram is an embedded, in-process memory store: an application opens one local
// file, creates named memory spaces, remembers memories (content, embedding, confidence,
// timestamps, metadata) in batches, and recalls the memories nearest to a cue.
//
// Each batch is validated item by item (a bad item fails alone, with a stable error code),
// its embeddings are normalized with SIMD in one pass, it is written to bbolt in one
// transaction (fsync'd by default), and then inserted into the space's in-memory vector
// index. Recall searches that index and reads the hits back from disk.
//
// A Store and its Spaces are safe for concurrent use. Recalls run in parallel with each
// other and with writes; writes to different spaces only meet at bbolt's commit.
//
// Durability: with default options, once a write call returns successfully its memories
// survive a crash of the process or the machine.
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

	"github.com/engram-go/engram/internal/codec"
	"github.com/engram-go/engram/internal/ids"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/errgroup"
)

// Store is an open engram file. Create one with Open and release it with Close.
type Store struct {
	db    *bolt.DB
	path  string
	opts  options
	log   *slog.Logger
	ids   *ids.Generator
	gate  gate
	limit Limits

	mu     sync.Mutex // guards spaces and serializes space create / drop
	spaces map[string]*Space

	commit committer // group commit of space writes (commit.go)

	migrateWake chan struct{} // nil when background migration is off
	migrateCtx  context.Context
	stopMigrate context.CancelFunc
	resident    residency
	tiered      atomic.Int32  // spaces with tiering: whether file pages are released
	closing     chan struct{} // closed when Close begins: writers waiting for hot room give up
	closeOnce   sync.Once
	closeErr    error
	migrateDone chan struct{}

	flushMu   sync.Mutex
	flushStop chan struct{}
	flushDone chan struct{}

	// commitHook, when set (by tests), runs inside every write transaction just before it
	// commits, with the number of write requests sharing it (1 for other writes); an error
	// aborts the transaction as a failed commit would.
	commitHook func(members int) error
}

// Open opens the store file at path, creating it if needed (unless read-only), and loads
// every space and its index. It fails with LOCKED if another Store holds the file for
// writing after the lock timeout (WithLockTimeout), and with CORRUPT if the file is not an
// engram store or a stored value fails its checksum.
func Open(path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, newErr(CodeInvalidOption, "open", "", err.Error(), nil)
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

		closing: make(chan struct{}),
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
		return nil, fmt.Errorf("%w: %v", berrors.ErrInvalid, err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", berrors.ErrInvalid, r)
		}
	}()
	return bolt.Open(path, mode, opts)
}

func openErr(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return newErr(CodeLocked, "open", "", fmt.Sprintf("%s is held by another store", path), err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
		return newErr(CodeCorrupt, "open", "", path+" is not a valid store file", err)
	}
	return newErr(CodeStorage, "open", "", path, err)
}

// init creates the top-level buckets of a new file and checks the format of an old one.
func (s *Store) init() error {
	check := func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if f := meta.Get(keyFormat); len(f) != 1 || f[0] < 1 || f[0] > storeFormat {
			return newErr(CodeCorrupt, "open", "", fmt.Sprintf("unsupported store format %v", f), nil)
		}
		return nil
	}
	if s.opts.readOnly {
		return s.view(check)
	}
	return s.update(context.Background(), func(tx *bolt.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
		}
		if f := meta.Get(keyFormat); len(f) != 1 || f[0] != storeFormat { // new, or format 1
			if err := meta.Put(keyFormat, []byte{storeFormat}); err != nil {
				return err
			}
		}
		_, err := tx.CreateBucketIfNotExists(bucketSpaces)
		return err
	})
}

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
// every space whose graph changed (see Space.Snapshot), and releases the file.
// Calls made after Close fail with CLOSED. Later and concurrent calls of Close wait for the
// first to finish (the file is released when any returns) and return its result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	if s.gate.isClosed() {
		return nil
	}
	// Batchers and streams first: they commit what they accepted while the store is open.
	s.mu.Lock()
	open := make([]*Space, 0, len(s.spaces))
	for _, sp := range s.spaces {
		open = append(open, sp)
	}
	s.mu.Unlock()
	for _, sp := range open {
		sp.closeFeeds()
	}
	// Writers waiting for hot-tier room give up (CLOSED): with the migrator stopping, no room
	// would come.
	close(s.closing)
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
	if !s.opts.readOnly {
		if err := s.flushAccess(); err != nil {
			errs = append(errs, err)
		}
		s.mu.Lock()
		spaces := make([]*Space, 0, len(s.spaces))
		for _, sp := range s.spaces {
			spaces = append(spaces, sp)
		}
		s.mu.Unlock()
		for _, sp := range spaces {
			if err := sp.snapshot(context.Background()); err != nil {
				errs = append(errs, err)
			}
		}
		if s.opts.noSync {
			if err := s.db.Sync(); err != nil {
				errs = append(errs, newErr(CodeStorage, "close", "", "sync", err))
			}
		}
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, newErr(CodeStorage, "close", "", "", err))
	}
	return errors.Join(errs...)
}

// Sync writes pending access statistics and, under WithNoSync, fsyncs the file, so that
// everything written before the call is durable.
func (s *Store) Sync() error {
	if !s.gate.enter() {
		return newErr(CodeClosed, "sync", "", "", nil)
	}
	defer s.gate.exit()
	if s.opts.readOnly {
		return nil
	}
	if err := s.flushAccess(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return newErr(CodeStorage, "sync", "", "", err)
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

// Spaces returns the names of the store's spaces, sorted.
func (s *Store) Spaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.spaces))
	for n := range s.spaces {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Space returns the space called name, creating it if it does not exist. Space names are
// 1 to 64 characters of lower-case ASCII letters, digits, '_' and '-', starting with a letter
// or digit. The options apply at creation; for an existing space they must agree with its
// stored configuration (a different WithDimension fails with DIMENSION_MISMATCH). Calling
// Space again returns the same *Space.
func (s *Store) Space(ctx context.Context, name string, opts ...SpaceOption) (*Space, error) {
	const op = "space"
	if err := validSpaceName(name); err != nil {
		return nil, newErr(CodeInvalidSpaceName, op, "", err.Error(), nil)
	}
	var so spaceOptions
	for _, opt := range opts {
		if err := opt(&so); err != nil {
			return nil, newErr(CodeInvalidOption, op, name, err.Error(), nil)
		}
	}
	if so.dimSet && so.dim > s.limit.MaxDimension {
		return nil, newErr(CodeInvalidOption, op, name, fmt.Sprintf("dimension %d exceeds the limit %d", so.dim, s.limit.MaxDimension), nil)
	}
	if !s.gate.enter() {
		return nil, newErr(CodeClosed, op, name, "", nil)
	}
	defer s.gate.exit()
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(op, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.spaces[name]; ok {
		if err := sp.checkOptions(so); err != nil {
			return nil, err
		}
		return sp, nil
	}
	if s.opts.readOnly {
		return nil, newErr(CodeReadOnly, op, name, "cannot create a space in a read-only store", nil)
	}
	if len(s.spaces) >= s.limit.MaxSpaces {
		return nil, newErr(CodeTooManySpaces, op, name, fmt.Sprintf("the store holds %d spaces, the limit", len(s.spaces)), nil)
	}
	cfg := codec.Config{
		Metric:           codec.MetricCosine,
		Index:            uint8(so.index),
		Dim:              so.dim,
		Created:          time.Now().UnixNano(),
		ConfidenceWeight: DefaultConfidenceWeight,
		M:                DefaultHNSWM,
		EfConstruction:   DefaultHNSWEfConstruction,
		EfSearch:         DefaultHNSWEfSearch,
		HNSWThreshold:    DefaultHNSWThreshold,
	}
	if so.weightSet {
		cfg.ConfidenceWeight = so.weight
	}
	if so.hnswSet {
		cfg.M, cfg.EfConstruction, cfg.EfSearch = so.hnsw[0], so.hnsw[1], so.hnsw[2]
	}
	if so.thresholdSet {
		cfg.HNSWThreshold = so.threshold
	}
	if so.tiering != nil {
		cfg.Tiering = tieringToConfig(*so.tiering)
	}
	if so.decay != nil {
		cfg.Decay = decayToConfig(*so.decay)
	}
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		return createSpace(tx, name, cfg)
	}); err != nil {
		return nil, s.storageErr(op, name, err)
	}
	sp := newSpace(s, name, cfg)
	s.addSpace(sp)
	s.log.Info("space created", "space", name, "dim", cfg.Dim)
	return sp, nil
}

// addSpace and removeSpace keep the space map and the tiered count; called with s.mu held.
func (s *Store) addSpace(sp *Space) {
	s.spaces[sp.name] = sp
	if sp.tier != nil {
		s.tiered.Add(1)
	}
}

func (s *Store) removeSpace(sp *Space) {
	delete(s.spaces, sp.name)
	if sp.tier != nil {
		s.tiered.Add(-1)
	}
}

// LookupSpace returns an existing space, or SPACE_NOT_FOUND.
func (s *Store) LookupSpace(name string) (*Space, error) {
	if err := validSpaceName(name); err != nil {
		return nil, newErr(CodeInvalidSpaceName, "lookup", "", err.Error(), nil)
	}
	if s.gate.isClosed() {
		return nil, newErr(CodeClosed, "lookup", name, "", nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.spaces[name]; ok {
		return sp, nil
	}
	return nil, newErr(CodeSpaceNotFound, "lookup", name, "", nil)
}

// DropSpace deletes a space with all its memories and its index. It waits for calls in
// flight on the space; afterwards the old *Space fails every call with SPACE_NOT_FOUND.
func (s *Store) DropSpace(ctx context.Context, name string) error {
	const op = "drop"
	if err := validSpaceName(name); err != nil {
		return newErr(CodeInvalidSpaceName, op, "", err.Error(), nil)
	}
	if !s.gate.enter() {
		return newErr(CodeClosed, op, name, "", nil)
	}
	defer s.gate.exit()
	if err := ctx.Err(); err != nil {
		return ctxErr(op, name, err)
	}
	if s.opts.readOnly {
		return newErr(CodeReadOnly, op, name, "", nil)
	}
	s.mu.Lock()
	sp, ok := s.spaces[name]
	if !ok || !sp.dropping.CompareAndSwap(false, true) {
		s.mu.Unlock()
		return newErr(CodeSpaceNotFound, op, name, "", nil)
	}
	s.mu.Unlock()
	// Drain without holding s.mu: calls running on the space may need the store (the
	// migrator lists spaces under s.mu while a writer waits for it to make hot room).
	close(*sp.closing.Load()) // writers waiting for hot-tier room give up (SPACE_NOT_FOUND)
	sp.closeFeeds()           // its batchers and streams finish what they accepted
	sp.gate.close()           // refuse new calls on the space and wait for running ones
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		return deleteSpace(tx, name)
	}); err != nil {
		sp.gate.reopen()
		sp.closing.Store(new(make(chan struct{})))
		sp.dropping.Store(false)
		return s.storageErr(op, name, err)
	}
	s.removeSpace(sp)
	sp.release()
	s.log.Info("space dropped", "space", name)
	return nil
}

// update runs fn in a write transaction. After fn (and the test commit hook) it checks ctx
// one last time: a call canceled before its commit leaves no trace, one canceled after it
// stands. Internal writes that must not be abandoned pass context.Background().
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.commitHook != nil {
			if err := s.commitHook(1); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.View(fn)
}

// recoverCorrupt turns a panic inside bbolt into a CORRUPT error. bbolt validates page
// headers with panics ("invalid page type", out-of-range page ids) rather than errors, and
// a damaged page id can send it outside the file's mapping (a memory fault, made a panic by
// debug.SetPanicOnFault for the transaction's goroutine). A damaged file must give the
// caller a clear error, not crash the process. bbolt's View and Update roll the transaction
// back in a deferred call, so no lock stays held.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = newErr(CodeCorrupt, "", "", fmt.Sprintf("the store file is damaged (bbolt: %v)", r), nil)
	}
}

// writeErr classifies the failure of a write request: its ctx ending before the commit,
// an engram error from inside the write, or a failed commit (STORAGE).
func (s *Store) writeErr(ctx context.Context, op, space string, err error) *Error {
	if ctxe := ctx.Err(); ctxe != nil && errors.Is(err, ctxe) {
		return ctxErr(op, space, err)
	}
	var e *Error
	if errors.As(s.storageErr(op, space, err), &e) {
		return e
	}
	return newErr(CodeStorage, op, space, "", err)
}

// storageErr wraps a transaction error: engram errors pass through, bbolt's become STORAGE
// (READ_ONLY for a read-only database).
func (s *Store) storageErr(op, space string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, berrors.ErrDatabaseReadOnly) || errors.Is(err, berrors.ErrTxNotWritable) {
		return newErr(CodeReadOnly, op, space, "", err)
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return newErr(CodeClosed, op, space, "", err)
	}
	return newErr(CodeStorage, op, space, "", err)
}

func validSpaceName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("space name must be 1 to 64 characters, got %d", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '-'))
		if !ok {
			return fmt.Errorf("space name %q: character %q at %d is not allowed ([a-z0-9][a-z0-9_-]*)", name, c, i)
		}
	}
	return nil
}

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
	st := StoreStats{Path: s.path, ReadOnly: s.opts.readOnly, NoSync: s.opts.noSync}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	s.mu.Lock()
	spaces := make([]*Space, 0, len(s.spaces))
	for _, sp := range s.spaces {
		spaces = append(spaces, sp)
	}
	s.mu.Unlock()
	for _, sp := range spaces {
		st.Spaces = append(st.Spaces, sp.Stats())
	}
	slices.SortFunc(st.Spaces, func(a, b SpaceStats) int { return strings.Compare(a.Name, b.Name) })
	return st
}
