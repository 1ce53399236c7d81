package main

// The Python peers (hnswlib, faiss) live in one persistent worker process for the whole
// run, peers/ann_worker.py, driven over its stdin/stdout with one JSON request and one JSON
// reply per line. Keeping it alive is what lets the harness alternate systems at every
// repetition: a measurement of hnswlib is one request, taking no longer than the
// measurement itself, instead of a script run per system minutes apart from the others.
//
// The worker reads the vectors from raw float32 files written once per run and writes
// result ids to files the harness names; recall is scored here, like every system's.
//
// The script is embedded so `go run .` works from any directory, and it is run with
// Debian's /usr/bin/python3 by default: the Debian packages python3-hnswlib and
// python3-faiss install for that interpreter only, and a pyenv/venv python3 earlier on
// PATH would not find them.

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

//go:embed peers/ann_worker.py
var annWorkerScript []byte

// pyWorker is the running worker process. Requests are strictly one at a time.
type pyWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startWorker writes the script and the vectors into dir and starts the worker on them.
func startWorker(python, dir string, base, queries []float32, dim int) (*pyWorker, error) {
	script := filepath.Join(dir, "ann_worker.py")
	basePath := filepath.Join(dir, "base.f32")
	queryPath := filepath.Join(dir, "queries.f32")
	var b, q bytes.Buffer
	putF32s(&b, base)
	putF32s(&q, queries)
	for path, data := range map[string][]byte{script: annWorkerScript, basePath: b.Bytes(), queryPath: q.Bytes()} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(python, script)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (run scripts/install-peers.sh)", python, err)
	}
	w := &pyWorker{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	w.out.Buffer(make([]byte, 1<<20), 1<<20)
	var r struct{ N, Queries int }
	if err := w.call(map[string]any{"cmd": "load", "base": basePath, "queries": queryPath, "dim": dim}, &r); err != nil {
		w.Close()
		return nil, err
	}
	if r.N != len(base)/dim || r.Queries != len(queries)/dim {
		w.Close()
		return nil, fmt.Errorf("python worker loaded %d base and %d query vectors, want %d and %d", r.N, r.Queries, len(base)/dim, len(queries)/dim)
	}
	return w, nil
}

// call sends one request and decodes its reply into reply (which may be nil).
func (w *pyWorker) call(req map[string]any, reply any) error {
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := w.in.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("python worker: %w (see its messages above)", err)
	}
	if !w.out.Scan() {
		err := w.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("python worker exited during %s: %w (run scripts/install-peers.sh if a module is missing)", req["cmd"], err)
	}
	raw := w.out.Bytes()
	var e struct{ Error string }
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("python worker: bad reply %q: %w", raw, err)
	}
	if e.Error != "" {
		return fmt.Errorf("python worker, %s %v: %s", req["cmd"], req["system"], e.Error)
	}
	if reply == nil {
		return nil
	}
	return json.Unmarshal(raw, reply)
}

// Close asks the worker to quit and waits for it (killing it after a few seconds).
func (w *pyWorker) Close() error {
	done := make(chan error, 1)
	go func() {
		w.call(map[string]any{"cmd": "quit"}, nil)
		w.in.Close()
		done <- w.cmd.Wait()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		return errors.New("python worker did not quit; killed")
	}
}

// pythonWorker starts the run's worker on first use.
func (s *suite) pythonWorker() (*pyWorker, error) {
	s.workerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "engram-bench-peer-")
		if err != nil {
			s.workerErr = err
			return
		}
		s.peerDir = dir
		s.worker, s.workerErr = startWorker(s.python, dir, s.base, s.queries, s.dim)
	})
	return s.worker, s.workerErr
}

func (s *suite) cleanup() {
	if s.worker != nil {
		s.worker.Close()
	}
	if s.peerDir != "" {
		os.RemoveAll(s.peerDir)
	}
}

// workerSystem is one system served by the worker.
type workerSystem struct {
	name   string // name in the output
	script string // "system" of the worker's requests
	exact  bool
	params string
	w      *pyWorker
	sized  bool
	size   buildInfo // footprint, measured once after the first build
}

func (p *workerSystem) Name() string   { return p.name }
func (p *workerSystem) Params() string { return p.params }
func (p *workerSystem) Exact() bool    { return p.exact }
func (p *workerSystem) Close()         {}

func (p *workerSystem) Build(s *suite) (buildInfo, error) {
	w, err := s.pythonWorker()
	if err != nil {
		return buildInfo{}, fmt.Errorf("%s: %w", p.name, err)
	}
	p.w = w
	var r struct {
		BuildSeconds float64 `json:"build_seconds"`
		BuildThreads int     `json:"build_threads"`
		Params, Note string
	}
	if err := w.call(map[string]any{"cmd": "build", "system": p.script, "M": 16, "ef_construction": 200, "threads": s.threads}, &r); err != nil {
		return buildInfo{}, err
	}
	p.params = r.Params
	if !p.sized {
		var sz struct {
			BytesPerVector float64 `json:"bytes_per_vector"`
			BytesMethod    string  `json:"bytes_method"`
		}
		if err := w.call(map[string]any{"cmd": "size", "system": p.script}, &sz); err != nil {
			return buildInfo{}, err
		}
		p.size = buildInfo{BytesPerVector: sz.BytesPerVector, BytesMethod: sz.BytesMethod}
		p.sized = true
	}
	info := p.size
	info.Seconds, info.Threads, info.Note = r.BuildSeconds, r.BuildThreads, r.Note
	return info, nil
}

func (p *workerSystem) IDs(s *suite, ef int) ([]uint32, error) {
	path := filepath.Join(s.peerDir, fmt.Sprintf("%s-ef%d.ids", p.script, ef))
	if err := p.w.call(map[string]any{"cmd": "ids", "system": p.script, "ef": ef, "k": recallK, "out": path}, nil); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	os.Remove(path)
	if len(b) != s.nq()*recallK*4 {
		return nil, fmt.Errorf("%s: %s has %d bytes, want %d", p.name, path, len(b), s.nq()*recallK*4)
	}
	return getU32s(b, s.nq()*recallK), nil
}

func (p *workerSystem) Time(s *suite, ef int, mode timeMode) (float64, bool, error) {
	m := map[timeMode]string{mode1Thread: "single", mode1Batch: "batch1", modeAll: "all"}[mode]
	var r struct{ QPS float64 }
	err := p.w.call(map[string]any{"cmd": "time", "system": p.script, "ef": ef, "k": recallK, "mode": m,
		"min_time": s.minTime.Seconds(), "threads": s.threads}, &r)
	return r.QPS, err == nil, err
}
