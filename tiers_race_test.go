package engram

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/engram-go/engram/tier"
)

// Races between tiering and the store's lifecycle, found in review: each once hung or
// crashed the store. A watchdog turns a hang into a failure.

func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v (deadlock?)", what, d)
	}
}

// TestDropSpaceWithBlockedWritersAndMigrator: writers wait for hot room (Block) while the
// migrator runs; DropSpace must not deadlock with them or with a migration cycle, and
// the writers end with SPACE_NOT_FOUND (or their write succeeded).
func TestDropSpaceWithBlockedWritersAndMigrator(t *testing.T) {
	ctx := context.Background()
	for round := range 3 {
		s := openHooked(t, filepath.Join(t.TempDir(), "d.db"), WithMigrateInterval(5*time.Millisecond), WithNoSync())
		setCommitHook(s, func(int) error { time.Sleep(2 * time.Millisecond); return nil }) // slow commits
		sp := mustSpace(t, s, "d", WithDimension(8), WithTiering(tier.Policy{HotCapacity: 10, MaxPerCycle: 20, BatchSize: 5}))
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for {
					res, err := sp.BatchRemember(ctx, synthetic(r, 50, 8, ""))
					if err != nil {
						if c := CodeOf(err); c != CodeSpaceNotFound && c != CodeClosed {
							t.Errorf("writer: %v", err)
						}
						return
					}
					if res.Failed > 0 {
						t.Errorf("writer: %v", res.Err())
						return
					}
				}
			})
		}
		time.Sleep(30 * time.Millisecond)
		within(t, 20*time.Second, "DropSpace", func() {
			if err := s.DropSpace(ctx, "d"); err != nil {
				t.Errorf("drop: %v", err)
			}
		})
		within(t, 20*time.Second, "the writers", wg.Wait)
		within(t, 20*time.Second, "Close", func() { s.Close() })
	}
}

// TestCloseWithABlockedWriter: a write waiting for hot room when Close begins does not
// hold Close forever (no migration would make room): Close drains calls in flight, so the
// write commits over capacity (the migrator demotes after the next Open) and Close returns.
func TestCloseWithABlockedWriter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	sp := mustSpace(t, s, "c", WithDimension(8), WithTiering(tier.Policy{HotCapacity: 100}))
	r := rand.New(rand.NewPCG(1, 1))
	mustStore(t, sp, synthetic(r, 200, 8, "a")) // overloaded; nothing migrates
	errc := make(chan error, 1)
	go func() {
		_, err := sp.Remember(ctx, synthetic(r, 1, 8, "late")[0])
		errc <- err
	}()
	for sp.Stats().Tiering.Waiting == 0 { // let it reach the wait (not a fixed sleep: CI may be loaded)
		time.Sleep(time.Millisecond)
	}
	within(t, 20*time.Second, "Close", func() { s.Close() })
	if err := <-errc; err != nil {
		t.Fatalf("blocked writer after Close: %v, want it committed", err)
	}
}

// TestCloseStopsTheMigrator: Close stops a migrator with a long backlog after its current
// batch instead of draining it first.
func TestCloseStopsTheMigrator(t *testing.T) {
	s := openHooked(t, filepath.Join(t.TempDir(), "m.db"), WithMigrateInterval(time.Millisecond), WithNoSync())
	sp := mustSpace(t, s, "m", WithDimension(8), WithTiering(tier.Policy{HotCapacity: 10, MaxPerCycle: 50, BatchSize: 10}))
	r := rand.New(rand.NewPCG(2, 2))
	setCommitHook(s, func(int) error { time.Sleep(3 * time.Millisecond); return nil })
	mustStore(t, sp, synthetic(r, 5000, 8, "")) // one batch: admitted while hot was empty
	time.Sleep(50 * time.Millisecond)
	within(t, 20*time.Second, "Close", func() { s.Close() })
	if d := sp.Stats().Tiering.Demoted; d >= 4990 {
		t.Fatalf("Close drained the whole backlog first (%d demoted)", d)
	}
}

// TestMoveSkipsMemoriesThatLeftTheirTier: a demotion chosen before an ArchiveWhere must not
// bring the archived memories back to warm (a move only takes memories still in the tiers
// it was chosen from).
func TestMoveSkipsMemoriesThatLeftTheirTier(t *testing.T) {
	ctx := context.Background()
	_, sp := tiered(t, tier.Policy{HotCapacity: 10})
	r := rand.New(rand.NewPCG(3, 3))
	mustStore(t, sp, synthetic(r, 30, 8, "m"))
	victims := sp.tiering.coldest(10, time.Now(), nil) // what a cycle would demote
	if n, err := sp.ArchiveWhere(ctx, 0, func(Memory) bool { return true }); err != nil || n != 30 {
		t.Fatalf("archive: %d %v", n, err)
	}
	n, err := sp.move(ctx, OpMigrate, victims, tier.Of(tier.Hot), tier.Warm, nil)
	if err != nil || n != 0 {
		t.Fatalf("stale demotion moved %d (%v), want 0", n, err)
	}
	if st := sp.Stats(); st.Tiers != [3]int64{0, 0, 30} {
		t.Fatalf("tiers %v, want all cold", st.Tiers)
	}
	mustCheck(t, sp.store)
}

// TestArchiveWhereRacingDropSpace: DropSpace waits for an ArchiveWhere batch in flight;
// neither panics, and ArchiveWhere ends with SPACE_NOT_FOUND or success.
func TestArchiveWhereRacingDropSpace(t *testing.T) {
	ctx := context.Background()
	for round := range 5 {
		s := openTemp(t, WithNoSync())
		sp := mustSpace(t, s, "a", WithDimension(8))
		r := rand.New(rand.NewPCG(uint64(round), 9))
		for range 4 {
			mustStore(t, sp, synthetic(r, 250, 8, ""))
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := sp.ArchiveWhere(ctx, 10, func(Memory) bool { return true })
			if err != nil && CodeOf(err) != CodeSpaceNotFound {
				t.Errorf("ArchiveWhere: %v", err)
			}
		})
		time.Sleep(time.Duration(round) * time.Millisecond)
		if err := s.DropSpace(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

// TestCheckUnderConcurrentWrites: Check on a busy space reports nothing: a commit seen by
// its snapshot before the counters caught up is not a problem.
func TestCheckUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, WithNoSync())
	sp := mustSpace(t, s, "w", WithDimension(8))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 4))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := sp.BatchRemember(ctx, synthetic(r, 5, 8, "")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 30 {
		rep, err := s.Check(ctx)
		if err != nil || !rep.OK {
			close(stop)
			wg.Wait()
			t.Fatalf("Check under writes: %v %+v", err, rep)
		}
	}
	close(stop)
	wg.Wait()
}
