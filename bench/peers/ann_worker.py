#!/usr/bin/python3
"""Persistent out-of-process peer for the engram ANN benchmark (bench/worker.go).

One process serves hnswlib and faiss (as packaged by Debian) for a whole benchmark run, so
the Go harness can alternate its own systems with these at every repetition: it sends one
JSON request per line on stdin and reads one JSON reply per line on stdout (stderr is for
diagnostics). Vectors come in raw float32 files the Go side wrote once per run. Recall is
NOT computed here: result ids go to a file the Go side names (uint32 little-endian,
queries x k, 0xFFFFFFFF for "no result") and the Go harness scores them like every system.

Requests (every reply is an object; a failure is {"error": "..."}):
  {"cmd": "load", "base": path, "queries": path, "dim": d}
  {"cmd": "build", "system": "hnswlib"|"faiss", "M": 16, "ef_construction": 200,
   "threads": t}                       -> build_seconds, build_threads, params, note
      (a build replaces the system's previous index; the old one is freed first)
  {"cmd": "size", "system": s}         -> bytes_per_vector, bytes_method
  {"cmd": "ids", "system": s, "ef": e, "k": 10, "out": path}
      one search call per query on one thread, the ids written to path
  {"cmd": "time", "system": s, "ef": e, "k": 10, "mode": m, "min_time": sec,
   "threads": t}                       -> qps
      mode "single": one call per query, library threads = 1 (what a Python caller sees,
      binding overhead included); "batch1": one call with all queries, 1 thread (the
      engine without per-call overhead); "all": one call with all queries, t threads.
      The query set is repeated until min_time has passed.
  {"cmd": "quit"}

Must run under Debian's /usr/bin/python3: python3-hnswlib and python3-faiss are installed
for that interpreter only (scripts/install-peers.sh).
"""

import gc
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

NONE = 0xFFFFFFFF


def versions(module, deb):
    """Both the Python distribution version and the Debian package version:
    Debian's python3-hnswlib 0.6.2 reports itself as hnswlib 0.6.1."""
    try:
        py = importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        py = "?"
    try:
        d = subprocess.run(["dpkg-query", "-W", "-f=${Version}", deb],
                           capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        d = "?"
    return "%s %s (Debian %s %s)" % (module, py, deb, d)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def linked_blas():
    """Which BLAS the process loaded; faiss batch search goes through sgemm,
    so this decides its batch throughput."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            base = os.path.basename(p)
            if any(s in base for s in ("blas", "mkl", "atlas")):
                libs.add(os.path.realpath(p))
    return ",".join(sorted(libs)) or "unknown"


def timed(pass_fn, nq, min_time):
    """Queries per second of pass_fn (which runs all nq queries) repeated until min_time."""
    passes = 0
    start = time.perf_counter()
    while True:
        pass_fn()
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return passes * nq / elapsed


class HNSWLib:
    def __init__(self):
        import hnswlib
        self.mod = hnswlib
        self.index = None
        self.rss_note = None
        self.threads = 1

    def build(self, base, req):
        self.index = None
        gc.collect()
        n, dim = base.shape
        rss0 = rss_bytes()
        # 'ip' on normalized vectors ranks exactly like cosine; 'cosine' would only
        # renormalize copies of vectors that are already unit length.
        index = self.mod.Index(space="ip", dim=dim)
        index.init_index(max_elements=n, M=req["M"], ef_construction=req["ef_construction"], random_seed=100)
        start = time.perf_counter()
        index.add_items(base, np.arange(n), num_threads=req["threads"])
        build = time.perf_counter() - start
        if self.rss_note is None:  # the first build: later ones reuse freed memory
            self.rss_note = "RSS growth over the first build %.0f B/vec" % ((rss_bytes() - rss0) / n)
        self.index = index
        self.threads = req["threads"]
        return {
            "build_seconds": build,
            "build_threads": req["threads"],
            "params": "M=%d efc=%d space=ip" % (req["M"], req["ef_construction"]),
            "note": "%s; %s; 1-thread = knn_query per query from Python (1-thread batch: one "
                    "knn_query of all queries, num_threads=1), all-threads = one knn_query of all queries"
                    % (versions("hnswlib", "python3-hnswlib"), self.rss_note),
        }

    def size(self, n):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "index.bin")
            self.index.save_index(path)
            return {"bytes_per_vector": os.path.getsize(path) / n, "bytes_method": "save_index file size / n"}

    def set_ef(self, ef):
        self.index.set_ef(ef)

    def one(self, q, k):
        return self.index.knn_query(q, k=k, num_threads=1)[0][0]

    def batch(self, qs, k, threads):
        self.index.knn_query(qs, k=k, num_threads=threads)


class FaissFlat:
    def __init__(self):
        import faiss
        self.mod = faiss
        self.index = None
        self.note = None

    def build(self, base, req):
        self.index = None
        gc.collect()
        n, dim = base.shape
        faiss = self.mod
        faiss.omp_set_num_threads(req["threads"])
        rss0 = rss_bytes()
        index = faiss.IndexFlatIP(dim)
        start = time.perf_counter()
        index.add(base)
        build = time.perf_counter() - start
        faiss.omp_set_num_threads(1)  # single queries run on one thread; batch() sets its own
        if self.note is None:
            self.note = ("%s, compile options %s; RSS growth over the first add %.0f B/vec; BLAS %s; "
                         "faiss 1.7.3 scans with its own loop below 20 queries per call and with BLAS "
                         "sgemm above, so single queries and batches run different code"
                         % (versions("faiss", "python3-faiss"), faiss.get_compile_options().strip(),
                            (rss_bytes() - rss0) / n, linked_blas()))
        self.index = index
        return {"build_seconds": build, "build_threads": 1, "params": "IndexFlatIP", "note": self.note}

    def size(self, n):
        return {"bytes_per_vector": self.mod.serialize_index(self.index).nbytes / n,
                "bytes_method": "serialize_index size / n"}

    def set_ef(self, ef):
        pass

    def one(self, q, k):
        return self.index.search(q.reshape(1, -1), k)[1][0]

    def batch(self, qs, k, threads):
        self.mod.omp_set_num_threads(threads)
        try:
            self.index.search(qs, k)
        finally:
            self.mod.omp_set_num_threads(1)


def main():
    systems = {}
    base = queries = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            cmd = req["cmd"]
            if cmd == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return 0
            if cmd == "load":
                base = np.fromfile(req["base"], dtype="<f4").reshape(-1, req["dim"])
                queries = np.fromfile(req["queries"], dtype="<f4").reshape(-1, req["dim"])
                reply = {"n": len(base), "queries": len(queries)}
            elif cmd == "build":
                name = req["system"]
                if name not in systems:
                    systems[name] = {"hnswlib": HNSWLib, "faiss": FaissFlat}[name]()
                reply = systems[name].build(base, req)
            elif cmd not in ("size", "ids", "time"):
                raise ValueError("unknown command %r" % cmd)
            else:
                sysobj = systems[req["system"]]
                if cmd == "size":
                    reply = sysobj.size(len(base))
                elif cmd == "ids":
                    sysobj.set_ef(req["ef"])
                    k = req["k"]
                    labels = np.full((len(queries), k), -1, dtype=np.int64)
                    for i in range(len(queries)):
                        lab = sysobj.one(queries[i], k)
                        labels[i, :len(lab)] = lab
                    np.where(labels < 0, NONE, labels).astype("<u4").tofile(req["out"])
                    reply = {"ok": True}
                elif cmd == "time":
                    sysobj.set_ef(req["ef"])
                    k, mode, nq = req["k"], req["mode"], len(queries)
                    if mode == "single":
                        def run():
                            for i in range(nq):
                                sysobj.one(queries[i], k)
                    elif mode == "batch1":
                        def run():
                            sysobj.batch(queries, k, 1)
                    elif mode == "all":
                        t = req["threads"]

                        def run():
                            sysobj.batch(queries, k, t)
                    else:
                        raise ValueError("unknown mode %r" % mode)
                    reply = {"qps": timed(run, nq, req["min_time"])}
        except Exception as e:  # reported to the Go side, which stops the run
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
