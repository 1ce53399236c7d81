package engram

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/engram-go/engram/internal/codec"
	bolt "go.etcd.io/bbolt"
)

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
// Space again returns the same *Space. While a DropSpace of the same name runs, Space
// waits for it to end (or for ctx) and then creates the space anew: it never returns the
// dying one.
func (s *Store) Space(ctx context.Context, name string, opts ...SpaceOption) (*Space, error) {
	const op = OpSpace
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
	if err := s.lockNotDropping(ctx, name); err != nil {
		return nil, ctxErr(op, name, err)
	}
	defer s.mu.Unlock()
	if sp, ok := s.spaces[name]; ok {
		if err := sp.checkOptions(so); err != nil {
			return nil, err
		}
		if so.embedder != nil {
			if err := sp.attachEmbedder(ctx, so); err != nil {
				return nil, err
			}
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
	if so.ttlRefresh && !so.ttlSet {
		return nil, newErr(CodeInvalidOption, op, name, "WithTTLRefresh needs WithTTL", nil)
	}
	cfg.Ext.TTL, cfg.Ext.TTLRefresh = int64(so.ttl), so.ttlRefresh
	if so.embedder != nil {
		if err := checkEmbedder(name, cfg, so); err != nil {
			return nil, err
		}
		if d := embedderDim(so.embedder); d > 0 {
			if d > s.limit.MaxDimension {
				return nil, newErr(CodeInvalidOption, op, name, fmt.Sprintf("the embedder's dimension %d exceeds the limit %d", d, s.limit.MaxDimension), nil)
			}
			cfg.Dim = d // the embedder says what the vectors are: fix it now
		}
		cfg.Ext.EmbedderName, cfg.Ext.EmbedderDim = embedderName(so.embedder), cfg.Dim
	}
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		return createSpace(tx, name, cfg)
	}); err != nil {
		return nil, writeErr(ctx, op, name, err)
	}
	sp := newSpace(s, name, cfg)
	if so.embedder != nil {
		sp.embedder.Store(newEmbedding(so))
	}
	s.addSpace(sp)
	s.log.Info("space created", "space", name, "dim", cfg.Dim)
	return sp, nil
}

// addSpace and removeSpace keep the space map and the tiered count; called with s.mu held.
func (s *Store) addSpace(sp *Space) {
	s.spaces[sp.name] = sp
	if sp.tiering != nil {
		s.tiered.Add(1)
	}
}

func (s *Store) removeSpace(sp *Space) {
	delete(s.spaces, sp.name)
	if sp.tiering != nil {
		s.tiered.Add(-1)
	}
}

// lockNotDropping takes s.mu at a moment when no drop of the space name is under way,
// waiting for one that is (or for ctx to end: then it returns ctx's error, unlocked).
func (s *Store) lockNotDropping(ctx context.Context, name string) error {
	for {
		s.mu.Lock()
		ch, dropping := s.drops[name]
		if !dropping {
			return nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// LookupSpace returns an existing space, or SPACE_NOT_FOUND. While a DropSpace of the
// space runs, it waits for the drop to end: SPACE_NOT_FOUND once it succeeded (never the
// dying space), the space if the drop failed.
func (s *Store) LookupSpace(name string) (*Space, error) {
	if err := validSpaceName(name); err != nil {
		return nil, newErr(CodeInvalidSpaceName, OpLookup, "", err.Error(), nil)
	}
	if s.gate.isClosed() {
		return nil, newErr(CodeClosed, OpLookup, name, "", nil)
	}
	s.lockNotDropping(context.Background(), name) // a drop ends in bounded time
	defer s.mu.Unlock()
	if sp, ok := s.spaces[name]; ok {
		return sp, nil
	}
	return nil, newErr(CodeSpaceNotFound, OpLookup, name, "", nil)
}

// DropSpace deletes a space with all its memories and its index. It waits for calls in
// flight on the space; afterwards the old *Space fails every call with SPACE_NOT_FOUND.
func (s *Store) DropSpace(ctx context.Context, name string) error {
	const op = OpDrop
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
	dropped := make(chan struct{}) // Space and LookupSpace of the name wait for it
	s.drops[name] = dropped
	s.mu.Unlock()
	// Drain without holding s.mu: calls running on the space may need the store (the
	// migrator lists spaces under s.mu while a writer waits for it to make hot room).
	close(*sp.closing.Load()) // writers waiting for hot-tier room give up (SPACE_NOT_FOUND)
	sp.closeFeeds()           // its batchers and streams finish what they accepted
	sp.gate.close()           // refuse new calls on the space and wait for running ones
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { delete(s.drops, name); close(dropped) }() // under s.mu, succeeded or not
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		if d := sp.damage.Load(); d != nil { // damaged structures are set aside, not freed (repair.go)
			for _, name := range [][]byte{sp.names.ids, sp.names.recs, sp.names.tiers} {
				if _, err := quarantine(tx, name, time.Now().UnixNano()); err != nil {
					return err
				}
			}
		}
		return deleteSpace(tx, name)
	}); err != nil {
		sp.gate.reopen()
		sp.closing.Store(new(make(chan struct{})))
		sp.dropping.Store(false)
		return writeErr(ctx, op, name, err)
	}
	s.removeSpace(sp)
	sp.release()
	s.log.Info("space dropped", "space", name)
	return nil
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

// spaceList returns the open spaces, for work done on each without holding s.mu.
func (s *Store) spaceList() []*Space {
	s.mu.Lock()
	defer s.mu.Unlock()
	spaces := make([]*Space, 0, len(s.spaces))
	for _, sp := range s.spaces {
		spaces = append(spaces, sp)
	}
	return spaces
}
