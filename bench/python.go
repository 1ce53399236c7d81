package main

// Python peers (hnswlib, faiss) run out of process: the vectors go to raw
// float32 files, peers/ann_peer.py builds and times the index, and prints a
// JSON line per configuration with the path of its result ids. Recall is
// scored here from those ids, like every in-process system.
//
// The script is embedded so `go run .` works from any directory, and it is
// always run with Debian's /usr/bin/python3 by default: the Debian packages
// python3-hnswlib and python3-faiss install for that interpreter only, and
// a pyenv/venv python3 earlier on PATH would not find them.

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed peers/ann_peer.py
var annPeerScript []byte

// peerInput is the temp directory shared by all Python peers of one run.
type peerInput struct {
	dir, script, base, queries string
}

// writePeerInput writes the vectors once per run, however many Python
// systems are selected.
func (s *suite) writePeerInput() (peerInput, error) {
	s.peerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "engram-bench-peer-")
		if err != nil {
			s.peerErr = err
			return
		}
		in := peerInput{
			dir:     dir,
			script:  filepath.Join(dir, "ann_peer.py"),
			base:    filepath.Join(dir, "base.f32"),
			queries: filepath.Join(dir, "queries.f32"),
		}
		var b, q bytes.Buffer
		putF32s(&b, s.base)
		putF32s(&q, s.queries)
		for path, data := range map[string][]byte{in.script: annPeerScript, in.base: b.Bytes(), in.queries: q.Bytes()} {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				s.peerErr = err
				return
			}
		}
		s.peerFiles = in
	})
	return s.peerFiles, s.peerErr
}

func (s *suite) cleanup() {
	if s.peerFiles.dir != "" {
		os.RemoveAll(s.peerFiles.dir)
	}
}

// pythonPeer is one system implemented by ann_peer.py.
type pythonPeer struct {
	name   string // name on the command line and in the output
	script string // --system value for ann_peer.py
}

func (p pythonPeer) Name() string { return p.name }

// peerLine is what ann_peer.py prints per configuration.
type peerLine struct {
	System         string  `json:"system"`
	Params         string  `json:"params"`
	Ef             int     `json:"ef"`
	QPS1Thread     float64 `json:"qps_1thread"`
	QPS1Batch      float64 `json:"qps_1thread_batch"`
	QPSAllThreads  float64 `json:"qps_all_threads"`
	BuildSeconds   float64 `json:"build_seconds"`
	BuildThreads   int     `json:"build_threads"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	BytesMethod    string  `json:"bytes_method"`
	IDsFile        string  `json:"ids_file"`
	Note           string  `json:"note"`
}

func (p pythonPeer) Run(s *suite, emit func(result)) error {
	in, err := s.writePeerInput()
	if err != nil {
		return err
	}
	outDir, err := os.MkdirTemp(in.dir, p.script+"-")
	if err != nil {
		return err
	}
	efs := make([]string, len(s.efs))
	for i, ef := range s.efs {
		efs[i] = strconv.Itoa(ef)
	}
	cmd := exec.Command(s.python, in.script,
		"--system", p.script,
		"--base", in.base, "--queries", in.queries,
		"--dim", strconv.Itoa(s.dim), "--k", strconv.Itoa(recallK),
		"--threads", strconv.Itoa(s.threads),
		"--efs", strings.Join(efs, ","),
		"--min-time", strconv.FormatFloat(s.minTime.Seconds(), 'f', -1, 64),
		"--repeat", strconv.Itoa(s.repeat),
		"--out-dir", outDir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w (run scripts/install-peers.sh)", p.name, s.python, err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var parseErr error
	for sc.Scan() {
		var l peerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			parseErr = fmt.Errorf("%s: bad peer output %q: %w", p.name, sc.Text(), err)
			break
		}
		ids, err := os.ReadFile(l.IDsFile)
		if err != nil {
			parseErr = err
			break
		}
		if len(ids) != s.nq()*recallK*4 {
			parseErr = fmt.Errorf("%s: %s has %d bytes, want %d", p.name, l.IDsFile, len(ids), s.nq()*recallK*4)
			break
		}
		emit(result{
			System: l.System, Params: l.Params, Ef: l.Ef,
			RecallAt10: s.recallAt10(getU32s(ids, s.nq()*recallK), recallK),
			QPS1Thread: l.QPS1Thread, QPS1Batch: l.QPS1Batch, QPSAllThreads: l.QPSAllThreads, Threads: s.threads,
			BuildSeconds: l.BuildSeconds, BuildPerS: float64(s.n()) / l.BuildSeconds, BuildThreads: l.BuildThreads,
			BytesPerVector: l.BytesPerVector, BytesMethod: l.BytesMethod,
			N: s.n(), Dim: s.dim, Queries: s.nq(), Note: l.Note,
		})
	}
	if parseErr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return parseErr
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %s ann_peer.py: %w (run scripts/install-peers.sh if a module is missing)", p.name, s.python, err)
	}
	return nil
}
