package engram

import (
	"os"
	"path/filepath"
)

// OpenTemp opens a store in a fresh temporary file — a new directory under os.TempDir
// holding store.db — with WithNoSync, and Close removes it: a store for tests and scratch
// work that needs no file management (chromem-go's in-memory NewDB plays this part there).
// It is an ordinary store in every other way; opts are applied after WithNoSync, as for
// Open. Store.Path names the file while it is open.
//
// A process that exits without Close leaves the directory behind (engram-* in the
// temporary directory); tests should Close, e.g. with t.Cleanup.
func OpenTemp(opts ...Option) (*Store, error) {
	dir, err := os.MkdirTemp("", "engram-*")
	if err != nil {
		return nil, newErr(CodeStorage, OpOpen, "", "temporary directory", err)
	}
	s, err := Open(filepath.Join(dir, "store.db"), append([]Option{WithNoSync()}, opts...)...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.tempDir = dir
	return s, nil
}

// removeTemp removes an OpenTemp store's directory once its file is closed.
func (s *Store) removeTemp() error {
	if s.tempDir == "" {
		return nil
	}
	if err := os.RemoveAll(s.tempDir); err != nil {
		return newErr(CodeStorage, OpClose, "", "removing the temporary store", err)
	}
	return nil
}
