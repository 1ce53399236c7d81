package engram_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/engram-go/engram"
)

// Repair after Check or a write has reported a damaged ID map (CORRUPT naming Repair).
// On a sound store it changes nothing.
func ExampleStore_Repair() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	notes.Remember(ctx, engram.Memory{ID: "n1", Embedding: []float32{1, 0}})

	rep, err := s.Repair(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("maps rebuilt:", len(rep.Spaces))
	for _, sp := range rep.Spaces {
		fmt.Printf("%s: %d records the map missed, %d IDs stored twice\n", sp.Name, sp.Problems, sp.Duplicates)
	}
	// Output:
	// maps rebuilt: 0
}

// A store file that cannot be opened as things stand — a missing directory, permission
// denied, a read-only file system — is ACCESS: not retryable, and the OS error is still
// there for errors.Is.
func ExampleCodeAccess() {
	_, err := engram.Open(filepath.Join(os.TempDir(), "no-such-dir-engram", "memories.db"))
	fmt.Println(engram.CodeOf(err), engram.IsRetryable(err), errors.Is(err, fs.ErrNotExist))
	// Output:
	// ACCESS false true
}

// Close returns in bounded time even when nobody reads a stream's acknowledgements: it
// commits everything the stream accepted, leaves the acks that fit in the buffer
// (QueueSize) readable, and drops the rest once no reader has taken one for AckGrace.
func ExampleStream_DroppedAcks() {
	s, done := tempStore()
	defer done()
	ctx := context.Background()
	notes, _ := s.Space(ctx, "notes")
	st := notes.NewStream(engram.StreamOptions{QueueSize: 2, AckGrace: 10 * time.Millisecond})
	for i := range 4 {
		st.Send(ctx, engram.Memory{Embedding: []float32{1, float32(i)}})
	}
	// Nobody reads st.Acks().
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored:", notes.Len(), "acks buffered:", len(st.Acks()), "dropped:", st.DroppedAcks())
	// Output:
	// stored: 4 acks buffered: 2 dropped: 2
}
