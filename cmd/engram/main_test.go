package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/engram-go/engram"
)

// capture runs fn with stdout redirected and returns what it printed.
func capture(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	runErr := fn()
	w.Close()
	os.Stdout = old
	out := <-done
	if runErr != nil {
		t.Fatalf("run: %v\n%s", runErr, out)
	}
	return string(out)
}

func TestSynthIsDeterministicJSONL(t *testing.T) {
	cmd := synthCmd{N: 50, Dim: 8, Seed: 3, Topics: 4, Spread: 0.35, Prefix: "m"}
	a := capture(t, cmd.Run)
	b := capture(t, cmd.Run)
	if a != b {
		t.Fatal("same flags, different output")
	}
	lines := strings.Split(strings.TrimSpace(a), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines", len(lines))
	}
	var m engram.Memory
	if err := json.Unmarshal([]byte(lines[7]), &m); err != nil {
		t.Fatal(err)
	}
	if m.ID != "m-000007" || len(m.Embedding) != 8 || m.Content == "" || m.Confidence == nil || m.CreatedAt.IsZero() || m.Metadata["topic"] == "" {
		t.Fatalf("memory: %+v", m)
	}
	cmd.Seed = 4
	if capture(t, cmd.Run) == a {
		t.Fatal("different seed, same output")
	}
}

func TestDemoRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	dir := t.TempDir()
	chart := filepath.Join(dir, "chart.svg")
	d := demoCmd{Dim: 32, Recall: 2000, Texts: 1000, Budget: 100 * time.Millisecond, Chart: chart, Seed: 1, NoColor: true}
	out := capture(t, d.Run)
	for _, want := range []string{"batch size", "DIMENSION_MISMATCH", "DEADLINE_EXCEEDED", "time-based", "adaptive",
		"5000 acknowledged (5000 in order)", "recall@10 vs exact search", "Text in", "embed", "Metrics", "chart of throughput"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	svg, err := os.ReadFile(chart)
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Fatalf("chart not written: %v", err)
	}
}
