package engram

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/engram-go/engram/tier"
)

// mappedKB returns the resident kilobytes of the process's mappings of path
// (/proc/self/smaps).
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasSuffix(line, path)
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			kb, _ := strconv.Atoi(fields[1])
			total += kb
		}
	}
	return total
}

// TestTieredStoreReleasesFilePages: a full scan maps every page of the file; a store with
// a tiered space unmaps them afterwards (residency.go), a store without keeps them — which
// shows the measurement sees the pages.
func TestTieredStoreReleasesFilePages(t *testing.T) {
	ctx := context.Background()
	for _, tiered := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "r.db")
		s, err := Open(path, WithMigrateInterval(0), WithNoSync())
		if err != nil {
			t.Fatal(err)
		}
		var opts []SpaceOption
		if tiered {
			opts = append(opts, WithTiering(tier.Policy{HotCapacity: 1 << 20}))
		}
		sp := mustSpace(t, s, "r", opts...)
		r := rand.New(rand.NewPCG(5, 5))
		for i := range 8 {
			mustStore(t, sp, synthetic(r, 1000, 256, "m"+strconv.Itoa(i)))
		}
		n := 0
		for _, err := range sp.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		s.releaseFilePages(true) // the scan's last page may fall inside the rate limit
		fi, _ := os.Stat(path)
		kb := mappedKB(t, path)
		t.Logf("tiered=%v: %d memories, file %d KB, %d KB mapped after a scan", tiered, n, fi.Size()>>10, kb)
		switch {
		case !tiered && kb < int(fi.Size()>>10)/4:
			t.Fatalf("untiered store: only %d KB of a %d KB file mapped after a full scan: the measurement is blind", kb, fi.Size()>>10)
		case tiered && kb > 64:
			t.Fatalf("tiered store: %d KB of the file still mapped after the scan", kb)
		}
		s.Close()
	}
}
