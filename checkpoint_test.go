package engram

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpoints: a checkpoint reads back after reopen, is replaced and deleted, is
// refused with bad names and over-large values, goes away with its space, and a read-only
// store reads but does not write them.
func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := openHooked(t, path)
	sp := mustSpace(t, s, "imp", WithDimension(4))
	if v, err := sp.Checkpoint(ctx, "import"); err != nil || v != nil {
		t.Fatalf("unset checkpoint: %q %v", v, err)
	}
	if err := sp.SetCheckpoint(ctx, "import", []byte("key=41")); err != nil {
		t.Fatal(err)
	}
	if err := sp.SetCheckpoint(ctx, "import", []byte("key=42")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", strings.Repeat("n", maxCheckpointName+1), "\xff"} {
		if err := sp.SetCheckpoint(ctx, bad, []byte("x")); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("name %q: %v, want INVALID_OPTION", bad, err)
		}
	}
	if err := sp.SetCheckpoint(ctx, "big", make([]byte, s.limit.MaxContentBytes+1)); !errors.Is(err, ErrContentTooLarge) {
		t.Errorf("over-large value: %v", err)
	}
	// A failed commit leaves the old value.
	setCommitHook(s, func(int) error { return errors.New("injected: disk full") })
	if err := sp.SetCheckpoint(ctx, "import", []byte("key=99")); !errors.Is(err, ErrStorage) || !IsRetryable(err) {
		t.Fatalf("failed commit: %v", err)
	}
	setCommitHook(s, nil)
	s.Close()

	ro, err := Open(path, WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	rsp, _ := ro.LookupSpace("imp")
	if v, err := rsp.Checkpoint(ctx, "import"); err != nil || !bytes.Equal(v, []byte("key=42")) {
		t.Fatalf("after reopen: %q %v", v, err)
	}
	if err := rsp.SetCheckpoint(ctx, "import", nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only write: %v", err)
	}
	ro.Close()

	s2 := openHooked(t, path)
	sp2, _ := s2.LookupSpace("imp")
	if err := sp2.SetCheckpoint(ctx, "import", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := sp2.Checkpoint(ctx, "import"); v != nil {
		t.Fatalf("deleted checkpoint reads %q", v)
	}
	if err := sp2.SetCheckpoint(ctx, "sync", []byte("w")); err != nil {
		t.Fatal(err)
	}
	if err := s2.DropSpace(ctx, "imp"); err != nil {
		t.Fatal(err)
	}
	again := mustSpace(t, s2, "imp", WithDimension(4))
	if v, err := again.Checkpoint(ctx, "sync"); err != nil || v != nil {
		t.Fatalf("a dropped space's checkpoint survived: %q %v", v, err)
	}
	if err := sp2.SetCheckpoint(ctx, "x", []byte("y")); !errors.Is(err, ErrSpaceNotFound) {
		t.Fatalf("on the dropped handle: %v", err)
	}
	mustCheck(t, s2)
}
