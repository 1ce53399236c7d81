package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/engram-go/engram"
	"github.com/engram-go/engram/tier"
)

// TestMain lets a test run the CLI as a process of its own (for signals and exit
// statuses): the test binary, started with ENGRAM_CLI_MAIN=1, is the engram command.
func TestMain(m *testing.M) {
	if os.Getenv("ENGRAM_CLI_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// cliResult is what one in-process run of the CLI printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the CLI in this process with args and stdin, capturing its output.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	in, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	in.WriteString(stdin)
	in.Seek(0, 0)
	defer in.Close()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	oldIn, oldOut, oldErr := os.Stdin, os.Stdout, os.Stderr
	os.Stdin, os.Stdout, os.Stderr = in, outW, errW
	outC, errC := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(outR); outC <- string(b) }()
	go func() { b, _ := io.ReadAll(errR); errC <- string(b) }()
	code := run(args)
	outW.Close()
	errW.Close()
	os.Stdin, os.Stdout, os.Stderr = oldIn, oldOut, oldErr
	return cliResult{<-outC, <-errC, code}
}

func (r cliResult) String() string {
	return "exit " + string(rune('0'+r.code)) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// want fails the test unless the run exited with code and its output holds every string.
func (r cliResult) want(t *testing.T, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\n%s", r.code, code, r)
	}
	for _, c := range contains {
		if !strings.Contains(r.stdout+r.stderr, c) {
			t.Fatalf("output lacks %q\n%s", c, r)
		}
	}
}

// synthFile writes n synthetic memories of dim dimensions and returns the file's path.
func synthFile(t *testing.T, dir string, n, dim int) string {
	t.Helper()
	data := capture(t, (&synthCmd{N: n, Dim: dim, Seed: 5, Topics: 4, Spread: 0.35, Prefix: "m"}).Run)
	p := filepath.Join(dir, "synth.jsonl")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExitStatuses: 0 on success, 1 on failure, 2 on usage errors — kong's parse errors
// (80 by kong's default) and the commands' own complaints about their flags.
func TestExitStatuses(t *testing.T) {
	dir := t.TempDir()
	src := synthFile(t, dir, 20, 4)
	store := filepath.Join(dir, "s.db")
	runCLI(t, "", "import", "--path", store, "--space", "s", src).want(t, 0, "20 stored")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "Usage: engram"},
		{[]string{"spaces", "--path", store}, 0, "s.db"},
		{[]string{}, 2, "expected one of"},
		{[]string{"bogus"}, 2, "unexpected argument bogus"},
		{[]string{"import", "--space", "s", src}, 2, "missing flags: --path"},
		{[]string{"import", "--path", store, "--space", "s", "--batch", "x", src}, 2, "--batch"},
		{[]string{"import", "--path", store, "--space", "s", "--batch", "0", src}, 2, "--batch 0 is outside"},
		{[]string{"query", "--path", store, "--space", "s"}, 2, "exactly one of --vector, --like and --text"},
		{[]string{"query", "--path", store, "--space", "s", "--vector", "[1,"}, 2, "--vector: want a JSON array"},
		{[]string{"query", "--path", store, "--space", "s", "--like", "m-000001", "--where", "nokey"}, 2, "--where: INVALID_QUERY"},
		{[]string{"drop", "--path", store, "--space", "s"}, 2, "without --yes"},
		{[]string{"spaces", "--path", filepath.Join(dir, "none.db")}, 1, "no store at"},
		{[]string{"query", "--path", store, "--space", "s", "--vector", "[1,2]"}, 1, "DIMENSION_MISMATCH"},
		{[]string{"stats", "--path", store, "--space", "nope"}, 1, "SPACE_NOT_FOUND"},
	} {
		r := runCLI(t, "", tc.args...)
		r.want(t, tc.code, tc.want)
	}
	// Nothing was created by the commands that failed on a missing store.
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read command created a store: %v", err)
	}
}

// TestErrorMessages: one "engram:" prefix, a path said once, no temporary file names, and
// a malformed line reported with its line and column in words.
func TestErrorMessages(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir", "s.db")
	r := runCLI(t, `{"embedding":[1]}`, "import", "--path", missing, "--space", "s", "-")
	r.want(t, 1)
	if strings.Count(r.stderr, "engram:") != 1 || strings.Count(r.stderr, missing) != 1 {
		t.Fatalf("doubled prefix or path:\n%s", r.stderr)
	}

	src := synthFile(t, dir, 5, 4)
	store := filepath.Join(dir, "s.db")
	runCLI(t, "", "import", "--path", store, "--space", "s", src).want(t, 0)
	out := filepath.Join(dir, "gone", "out.jsonl")
	r = runCLI(t, "", "export", "--path", store, "--space", "s", out)
	r.want(t, 1, "cannot create "+out+": no such file or directory")
	if strings.Contains(r.stderr, ".tmp") {
		t.Fatalf("temporary name in the message:\n%s", r.stderr)
	}
	r = runCLI(t, "", "backup", "--path", store, out)
	r.want(t, 1, "cannot create "+out)
	if strings.Contains(r.stderr, ".tmp") {
		t.Fatalf("temporary name in the message:\n%s", r.stderr)
	}

	r = runCLI(t, "{\"id\":\"a\",\"embedding\":[1,0,0,0]}\n\n{\"id\": nope, \"embedding\":[1,0,0,0]}\n", "import", "--path", store, "--space", "s", "-")
	r.want(t, 0, `line 3, column 8: nope is not a JSON value`)
	if strings.Contains(r.stdout, "invalid character") {
		t.Fatalf("encoding/json's wording:\n%s", r.stdout)
	}
}

// TestImportLeavesNoTrace: an import that stores nothing leaves the store as it was: a
// --dim at odds with the file is refused before the store or the space is created, a space
// the import created is dropped again, a store file it created is removed; the corrected
// rerun then works.
func TestImportLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	src := synthFile(t, dir, 30, 8)
	store := filepath.Join(dir, "a.db")

	// A new store: --dim disagrees with the first line. No file is created.
	runCLI(t, "", "import", "--path", store, "--space", "mem", "--dim", "128", src).
		want(t, 1, "--dim 128 disagrees with the file: its first memory (line 1) has 8 dimensions")
	if _, err := os.Stat(store); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed import created %s", store)
	}
	// Nothing importable into a new store: the file it created is removed.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\n"+`{"embedding":[0,0]}`+"\n"), 0o600)
	runCLI(t, "", "import", "--path", store, "--space", "mem", bad).want(t, 1, "nothing was imported", "was removed")
	if _, err := os.Stat(store); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed import left %s", store)
	}

	// An existing store: the dimension is refused before the space is created, and a space
	// the import created but stored nothing in is dropped again.
	runCLI(t, "", "import", "--path", store, "--space", "other", src).want(t, 0)
	runCLI(t, "", "import", "--path", store, "--space", "mem", "--dim", "128", src).want(t, 1, "disagrees with the file")
	runCLI(t, "", "import", "--path", store, "--space", "mem", bad).want(t, 1, "nothing was imported", `space "mem", created by this import, was dropped again`)
	hdr := filepath.Join(dir, "hdr.jsonl") // a lossless export of 8-d memories, the header first
	runCLI(t, "", "export", "--path", store, "--space", "other", hdr).want(t, 0)
	runCLI(t, "", "import", "--path", store, "--space", "mem", "--dim", "16", hdr).want(t, 1, "its header has 8 dimensions")
	s, err := engram.Open(store, engram.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Spaces(); len(got) != 1 || got[0] != "other" {
		t.Fatalf("spaces after failed imports: %v", got)
	}
	s.Close()
	// An existing space of another dimension is refused before anything is written.
	runCLI(t, "", "import", "--path", store, "--space", "other", synthFile(t, t.TempDir(), 3, 4)).
		want(t, 1, `space "other" has 8 dimensions, its first memory (line 1) 4`)
	// The corrected rerun works.
	runCLI(t, "", "import", "--path", store, "--space", "mem", src).want(t, 0, "30 stored")
}

// TestImportStrict: --strict exits 1 when any line or memory was rejected, after storing
// the good ones; without it the same import succeeds.
func TestImportStrict(t *testing.T) {
	dir := t.TempDir()
	in := `{"id":"a","embedding":[1,0]}` + "\n" + `not json` + "\n" + `{"id":"b","embedding":[0,1]}` + "\n"
	store := filepath.Join(dir, "s.db")
	runCLI(t, in, "import", "--path", store, "--space", "s", "-").want(t, 0, "2 stored")
	runCLI(t, in, "import", "--path", store, "--space", "s", "--strict", "-").want(t, 1, "2 stored", "--strict: 1 bad lines and 0 rejected memories")
	rejected := `{"id":"c","embedding":[1,0]}` + "\n" + `{"id":"d","embedding":[0,0]}` + "\n"
	runCLI(t, rejected, "import", "--path", store, "--space", "s", "--strict", "-").want(t, 1, "1 stored", "0 bad lines and 1 rejected memories")
	runCLI(t, rejected[:29], "import", "--path", store, "--space", "s", "--strict", "-").want(t, 0, "1 stored")
}

// tieredSource builds a store whose space "notes" has all three tiers, archived memories,
// access statistics, tiering and decay, and returns its path.
func tieredSource(t *testing.T, dir string) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(dir, "src.db")
	s, err := engram.Open(path, engram.WithMigrateInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sp, err := s.Space(ctx, "notes", engram.WithTiering(tier.Policy{HotCapacity: 40, BatchSize: 10, Backpressure: tier.FailFast}),
		engram.WithDecay(tier.Decay{Kind: tier.PowerLaw, Scale: 2 * time.Hour, RecencyBoost: 0.3}), engram.WithHNSW(8, 64, 48),
		engram.WithConfidenceWeight(0.35))
	if err != nil {
		t.Fatal(err)
	}
	mems := readJSONL(t, []byte(capture(t, (&synthCmd{N: 80, Dim: 16, Seed: 9, Topics: 4, Spread: 0.35, Prefix: "m"}).Run)))
	if res, err := sp.BatchRemember(ctx, mems[:60]); err != nil || res.Failed > 0 {
		t.Fatal(err, res.Err())
	}
	if res, err := sp.Archive(ctx, mems[60:]); err != nil || res.Failed > 0 {
		t.Fatal(err, res.Err())
	}
	for i := range 3 {
		if _, err := sp.Recall(ctx, engram.Query{Embedding: mems[i].Embedding, K: 4}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sp.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sp.Stats(); st.Tiers[tier.Hot] == 0 || st.Tiers[tier.Warm] == 0 || st.Tiers[tier.Cold] != 20 {
		t.Fatalf("tiers %v: the test wants all three", st.Tiers)
	}
	return path
}

// TestLosslessExportImport: export → import into a fresh store → export gives the same
// bytes — every field, tiers, archived memories, access statistics, the space's settings
// (tiering, decay, HNSW, confidence weight) — also through gzip; a plain export still reads.
func TestLosslessExportImport(t *testing.T) {
	dir := t.TempDir()
	src := tieredSource(t, dir)
	first := filepath.Join(dir, "first.jsonl")
	runCLI(t, "", "export", "--path", src, "--space", "notes", first).want(t, 0, "exported 80 memories")
	dst := filepath.Join(dir, "dst.db")
	runCLI(t, "", "import", "--path", dst, "--space", "notes", first).
		want(t, 0, "settings recreated, tiers and access statistics kept", "80 stored")
	r := runCLI(t, "", "export", "--path", dst, "--space", "notes", "-")
	r.want(t, 0)
	a, _ := os.ReadFile(first)
	if r.stdout != string(a) {
		la, lb := strings.Split(string(a), "\n"), strings.Split(r.stdout, "\n")
		for i := range min(len(la), len(lb)) {
			if la[i] != lb[i] {
				t.Fatalf("line %d differs after export → import → export:\n%s\n%s", i+1, la[i], lb[i])
			}
		}
		t.Fatalf("%d lines, then %d", len(la), len(lb))
	}
	for _, want := range []string{`"tier":"warm"`, `"tier":"cold"`, `"access_count":`, `"decay":{"kind":"power-law"`, `"backpressure":"fail-fast"`} {
		if !strings.Contains(string(a), want) {
			t.Fatalf("the export lacks %s", want)
		}
	}

	// Gzip'ed: recognized on import, same result.
	gz := filepath.Join(dir, "first.jsonl.gz")
	runCLI(t, "", "export", "--path", src, "--space", "notes", "--gzip", gz).want(t, 0)
	if b, _ := os.ReadFile(gz); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b || len(b) >= len(a) {
		t.Fatalf("not gzip'ed: %d bytes", len(b))
	}
	runCLI(t, "", "import", "--path", dst, "--space", "fromgz", gz).want(t, 0, "80 stored")
	r = runCLI(t, "", "export", "--path", dst, "--space", "fromgz", "-")
	if want := strings.Replace(string(a), `"space":"notes"`, `"space":"fromgz"`, 1); r.stdout != want {
		t.Fatal("the gzip'ed round trip differs")
	}

	// --no-keep-tiers: every memory hot, settings still recreated.
	runCLI(t, "", "import", "--path", dst, "--space", "flat", "--no-keep-tiers", first).want(t, 0, "stored as hot memories")
	r = runCLI(t, "", "stats", "--path", dst, "--space", "flat")
	// Stored hot, over the hot capacity of 40: the migrator demotes them when the store runs.
	// (If the import's store ran a migration cycle meanwhile, memories already below its
	// cut go to warm directly: some of the 80 may be warm, none cold.)
	r.want(t, 0, "overloaded", "80: ")
	var hot, warm int
	if _, err := fmt.Sscanf(r.stdout[strings.Index(r.stdout, "80: "):], "80: %d hot, %d warm, 0 cold", &hot, &warm); err != nil || hot+warm != 80 || hot <= 40 {
		t.Fatalf("--no-keep-tiers: %d hot, %d warm (%v)\n%s", hot, warm, err, r.stdout)
	}

	// A plain export has no header and no tiers, and imports as before.
	plain := filepath.Join(dir, "plain.jsonl")
	runCLI(t, "", "export", "--path", src, "--space", "notes", "--plain", plain).want(t, 0)
	p, _ := os.ReadFile(plain)
	if bytes.Contains(p, []byte("engram_jsonl")) || bytes.Contains(p, []byte(`"tier"`)) {
		t.Fatal("a plain export carries the lossless form")
	}
	runCLI(t, "", "import", "--path", dst, "--space", "plain", plain).want(t, 0, "80 stored")
	if r := runCLI(t, "", "stats", "--path", dst, "--space", "plain"); !strings.Contains(r.stdout, "tiering            off") {
		t.Fatalf("a plain import recreated settings:\n%s", r)
	}
}

// TestInspectCommands: spaces, stats (table and JSON), check, query and drop.
func TestInspectCommands(t *testing.T) {
	dir := t.TempDir()
	src := tieredSource(t, dir)
	runCLI(t, "", "spaces", "--path", src).want(t, 0, "1 space", "notes", "16", "80", "40 ", "20 ", "power law")
	r := runCLI(t, "", "spaces", "--path", src, "--json")
	r.want(t, 0, `"name":"notes"`, `"dim":16`, `"cold":20`, `"hot_capacity":40`)
	runCLI(t, "", "stats", "--path", src, "--space", "notes").
		want(t, 0, "80: ", "20 cold", "hot capacity 40", "power law, scale 2h", "confidence weight  0.35", "graph M 8")
	r = runCLI(t, "", "stats", "--path", src, "--space", "notes", "--json")
	r.want(t, 0, `"Stats"`, `"Settings"`, `"HotCapacity": 40`)
	runCLI(t, "", "check", "--path", src).want(t, 0, "ok: 1 space checked")

	// query: by an ID (the memory itself left out), with filters, as JSON, by a vector.
	r = runCLI(t, "", "query", "--path", src, "--space", "notes", "--like", "m-000001", "-k", "3")
	r.want(t, 0, "RANK", "SIMILARITY")
	if strings.Contains(r.stdout, "m-000001 ") || strings.Count(r.stdout, "\n") != 4 {
		t.Fatalf("query --like:\n%s", r)
	}
	r = runCLI(t, "", "query", "--path", src, "--space", "notes", "--like", "m-000001", "-k", "5", "--tiers", "all",
		"--where", "topic=music", "--min-similarity=-1", "--json")
	r.want(t, 0)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 5 {
		t.Fatalf("%d hits, want 5:\n%s", len(lines), r)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.Contains(line, `"topic":"music"`) {
			t.Fatalf("a hit outside the filter: %s", line)
		}
	}
	r = runCLI(t, "", "query", "--path", src, "--space", "notes", "--vector", "[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", "-k", "2", "--tiers", "cold")
	r.want(t, 0, "cold")
	if strings.Contains(r.stdout, " hot ") || strings.Contains(r.stdout, " warm ") {
		t.Fatalf("--tiers cold returned others:\n%s", r)
	}

	// drop: asks on a terminal; the wrong answer drops nothing, the name does.
	old := stdinIsTerminal
	stdinIsTerminal = func() bool { return true }
	defer func() { stdinIsTerminal = old }()
	runCLI(t, "no\n", "drop", "--path", src, "--space", "notes").want(t, 1, "not confirmed", "80 memories")
	runCLI(t, "notes\n", "drop", "--path", src, "--space", "notes").want(t, 0, `dropped space "notes"`)
	runCLI(t, "", "spaces", "--path", src).want(t, 0, "0 spaces")
	runCLI(t, "", "drop", "--path", src, "--space", "notes", "--yes").want(t, 1, "SPACE_NOT_FOUND")
}

// TestCheckReportsProblems: a store whose index disagrees with its records fails check.
func TestCheckReportsProblems(t *testing.T) {
	dir := t.TempDir()
	src := tieredSource(t, dir)
	// Damage one record's bytes on disk: its checksum catches it at Open and in Check.
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("m-000007"))
	if i < 0 {
		t.Fatal("record not found in the file")
	}
	b[i+40] ^= 0xff
	if err := os.WriteFile(src, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "check", "--path", src)
	r.want(t, 1, "problem")
}

// TestCheckRepair: a damaged ID map (an entry's key altered on disk: the map no longer
// leads the record's ID back to it) fails check; check --repair rebuilds the map, says so
// on standard error and exits 0, and a plain check is then clean. A damaged record, which
// carries a checksum, is nothing Repair can rebuild: check --repair still exits 1.
func TestCheckRepair(t *testing.T) {
	dir := t.TempDir()
	src := tieredSource(t, dir)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// The ID is on disk twice: in its record (checksummed) and as the ID map's key. Try
	// each occurrence; one of each kind must behave as documented.
	repaired, refused := 0, 0
	for off := 0; ; {
		i := bytes.Index(orig[off:], []byte("m-000007"))
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		b := bytes.Clone(orig)
		b[i+7] = 'Z' // "m-00000Z": still text, no longer the record's ID
		path := filepath.Join(dir, fmt.Sprintf("damaged-%d.db", i))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		runCLI(t, "", "check", "--path", path).want(t, 1, "problem")
		r := runCLI(t, "", "check", "--path", path, "--repair")
		switch r.code {
		case 0:
			r.want(t, 0, "repair: notes:", "ok: 1 space checked")
			runCLI(t, "", "check", "--path", path).want(t, 0, "ok: 1 space checked")
			repaired++
		case 1:
			r.want(t, 1, "problem")
			refused++
		default:
			t.Fatalf("check --repair: %v", r)
		}
	}
	if repaired == 0 || refused == 0 {
		t.Fatalf("%d damaged maps repaired, %d damaged records refused; want at least one of each", repaired, refused)
	}
}

// TestBackupRestore: backup to a file and to standard output; restore refuses to replace
// a store without --force, refuses a file that is not a store (leaving the destination as
// it was), reads standard input, and what it puts in place checks clean and opens from
// the snapshots.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	src := tieredSource(t, dir)
	bak := filepath.Join(dir, "store.bak")
	runCLI(t, "", "backup", "--path", src, bak).want(t, 0, "backed up", "1 space, 80 memories")
	r := runCLI(t, "", "backup", "--path", src, "-")
	r.want(t, 0)
	if b, _ := os.ReadFile(bak); !bytes.Equal(b, []byte(r.stdout)) {
		t.Fatal("a backup to standard output differs from one to a file")
	}

	dst := filepath.Join(dir, "restored.db")
	runCLI(t, "", "restore", bak, "--path", dst).want(t, 0, "restored", "1 space, 80 memories")
	s, err := engram.Open(dst, engram.WithReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.LookupSpace("notes")
	if err != nil || sp.Len() != 80 {
		t.Fatalf("restored space: %v", err)
	}
	s.Close()
	orig, _ := os.ReadFile(dst)

	runCLI(t, "", "restore", bak, "--path", dst).want(t, 1, "exists; pass --force")
	junk := filepath.Join(dir, "junk.bak")
	os.WriteFile(junk, bytes.Repeat([]byte("not a store "), 2000), 0o600)
	r = runCLI(t, "", "restore", junk, "--path", dst, "--force")
	r.want(t, 1, "junk.bak is not a usable engram store")
	if strings.Contains(r.stderr, ".tmp") {
		t.Fatalf("temporary name in the message:\n%s", r)
	}
	if b, _ := os.ReadFile(dst); !bytes.Equal(b, orig) {
		t.Fatal("a refused restore changed the destination")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".restored.db.*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// Standard input, over the existing store with --force.
	bk, _ := os.ReadFile(bak)
	runCLI(t, string(bk), "restore", "-", "--path", dst, "--force").want(t, 0, "restored", "from standard input")
	runCLI(t, "", "check", "--path", dst).want(t, 0, "ok")

	// A store in use by a writer is never replaced.
	w, err := engram.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, "", "restore", bak, "--path", dst, "--force").want(t, 1, "in use by another process")
	w.Close()
}

// TestCompareWords: the demo's "vs seed" columns say same, higher or lower correctly.
func TestCompareWords(t *testing.T) {
	for _, tc := range []struct {
		ours, seed float64
		want       string
	}{
		{100, 100, "same"},
		{104, 100, "same"},
		{96, 100, "same"},
		{150, 100, "1.5× higher"},
		{50, 100, "2.0× lower"},
		{1, 12, "12× lower"},
		{1200, 80, "15× higher"},
		{9.96, 1, "10× higher"},
		{0, 100, "-"},
	} {
		if got := compare(tc.ours, tc.seed); got != tc.want {
			t.Errorf("compare(%v, %v) = %q, want %q", tc.ours, tc.seed, got, tc.want)
		}
	}
}

// TestDemoInterrupted: SIGINT or SIGTERM ends the demo with status 1 and its temporary
// store removed.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo in a child process")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(os.Args[0], "demo", "--dim", "16", "--budget", "5s", "--recall", "2000", "--chart", "", "--no-color")
		cmd.Env = append(os.Environ(), "ENGRAM_CLI_MAIN=1", "TMPDIR="+t.TempDir())
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(line, "store ")
		path, _, _ := strings.Cut(rest, ",")
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("demo store %q: %v", path, err)
		}
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { io.Copy(io.Discard, stdout); done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: the demo did not end", sig)
		}
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("%v: exit status %d (%v), want 1\n%s", sig, code, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "interrupted; the demo's temporary store was removed") {
			t.Fatalf("%v: stderr:\n%s", sig, stderr.String())
		}
		if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v: the demo's directory %s is still there", sig, filepath.Dir(path))
		}
	}
}
