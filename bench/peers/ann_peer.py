#!/usr/bin/python3
"""Out-of-process peer for the engram ANN benchmark (bench/python.go).

Runs one Python ANN system (hnswlib or faiss, as packaged by Debian) on
vectors the Go side wrote, and prints one JSON object per measured
configuration on stdout. Recall is NOT computed here: each configuration's
result ids go to a file (uint32 little-endian, queries x k, 0xFFFFFFFF for
"no result") and the Go harness scores them against its ground truth, so
every system is scored by the same code.

Must run under Debian's /usr/bin/python3: python3-hnswlib and python3-faiss
are installed for that interpreter only (scripts/install-peers.sh).

Timing mirrors the Go harness: the query set is repeated until --min-time
seconds have elapsed, after one untimed pass that also yields the ids, and
the best of --repeat such measurements is reported.
  qps_1thread     one knn_query / search call per query, library threads = 1,
                  i.e. the per-query latency a Python caller actually sees,
                  binding overhead included.
  qps_all_threads one batch call over all queries with --threads threads.
"""

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

NONE = 0xFFFFFFFF


def load(path, dim):
    return np.fromfile(path, dtype="<f4").reshape(-1, dim)


def qps(pass_fn, nq, min_time, repeat):
    """Best of `repeat` measurements, each repeating pass_fn (which runs all
    nq queries) for at least min_time seconds. Best, not mean: interference
    on a shared machine only ever slows a measurement down."""
    best = 0.0
    for _ in range(max(repeat, 1)):
        passes = 0
        start = time.perf_counter()
        while True:
            pass_fn()
            passes += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = max(best, passes * nq / elapsed)
    return best


def write_ids(out_dir, name, labels):
    """labels: (nq, k) integer array; negative values mean no result."""
    ids = np.where(labels < 0, NONE, labels).astype("<u4")
    path = os.path.join(out_dir, name)
    ids.tofile(path)
    return path


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
    """Resident set size, for the in-memory footprint next to the on-disk one
    (hnswlib also keeps a mutex per element, a label hash map and level
    data that its saved file does not contain)."""
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


def run_hnswlib(a, base, queries, emit):
    import hnswlib

    n, nq = len(base), len(queries)
    # 'ip' on normalized vectors ranks exactly like cosine; 'cosine' would
    # only renormalize copies of vectors that are already unit length.
    rss0 = rss_bytes()
    index = hnswlib.Index(space="ip", dim=a.dim)
    index.init_index(max_elements=n, M=a.M, ef_construction=a.ef_construction, random_seed=100)
    start = time.perf_counter()
    index.add_items(base, np.arange(n), num_threads=a.threads)
    build = time.perf_counter() - start
    rss = (rss_bytes() - rss0) / n

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "index.bin")
        index.save_index(path)
        size = os.path.getsize(path)

    params = "M=%d efc=%d space=ip" % (a.M, a.ef_construction)
    for ef in a.efs:
        index.set_ef(ef)
        labels = np.empty((nq, a.k), dtype=np.int64)
        for i in range(nq):
            lab, _ = index.knn_query(queries[i], k=a.k, num_threads=1)
            labels[i] = lab[0]

        def single():
            for i in range(nq):
                index.knn_query(queries[i], k=a.k, num_threads=1)

        def batch():
            index.knn_query(queries, k=a.k, num_threads=a.threads)

        def batch1():
            # All queries in one call on one thread: the engine's speed without the
            # per-call Python overhead that qps_1thread includes.
            index.knn_query(queries, k=a.k, num_threads=1)

        emit({
            "system": "hnswlib",
            "params": params,
            "ef": ef,
            "qps_1thread": qps(single, nq, a.min_time, a.repeat),
            "qps_1thread_batch": qps(batch1, nq, a.min_time, a.repeat),
            "qps_all_threads": qps(batch, nq, a.min_time, a.repeat),
            "build_seconds": build,
            "build_threads": a.threads,
            "bytes_per_vector": size / n,
            "bytes_method": "save_index file size / n",
            "ids_file": write_ids(a.out_dir, "hnswlib-ef%d.ids" % ef, labels),
            "note": "%s; RSS growth over build %.0f B/vec; 1-thread = knn_query per query from Python (1-thread batch: one knn_query of all queries, num_threads=1), all-threads = one knn_query of all queries"
            % (versions("hnswlib", "python3-hnswlib"), rss),
        })


def run_faiss(a, base, queries, emit):
    import faiss

    n, nq = len(base), len(queries)
    faiss.omp_set_num_threads(a.threads)
    rss0 = rss_bytes()
    index = faiss.IndexFlatIP(a.dim)
    start = time.perf_counter()
    index.add(base)
    build = time.perf_counter() - start
    rss = (rss_bytes() - rss0) / n
    size = faiss.serialize_index(index).nbytes

    # faiss 1.7.3 scans with its own SIMD loop for fewer than 20 queries per
    # call (distance_compute_blas_threshold) and with BLAS sgemm above that,
    # so single queries and batches exercise different code.
    faiss.omp_set_num_threads(1)
    labels = np.empty((nq, a.k), dtype=np.int64)
    for i in range(nq):
        _, lab = index.search(queries[i : i + 1], a.k)
        labels[i] = lab[0]

    def single():
        for i in range(nq):
            index.search(queries[i : i + 1], a.k)

    def batch():
        index.search(queries, a.k)

    q1 = qps(single, nq, a.min_time, a.repeat)
    batch1 = qps(batch, nq, a.min_time, a.repeat)
    faiss.omp_set_num_threads(a.threads)
    qall = qps(batch, nq, a.min_time, a.repeat)

    emit({
        "system": "faiss-flat",
        "params": "IndexFlatIP",
        "ef": 0,
        "qps_1thread": q1,
        "qps_all_threads": qall,
        "build_seconds": build,
        "build_threads": 1,
        "bytes_per_vector": size / n,
        "bytes_method": "serialize_index size / n",
        "ids_file": write_ids(a.out_dir, "faiss-flat.ids", labels),
        "note": "%s, compile options %s; RSS growth over add %.0f B/vec; "
        "qps_all_threads = one search() of all %d queries; same batch with 1 thread: %.0f q/s; BLAS %s"
        % (versions("faiss", "python3-faiss"), faiss.get_compile_options().strip(), rss, nq, batch1,
           linked_blas()),
    })


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", required=True, choices=["hnswlib", "faiss"])
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--efs", default="10,16,24,32,48,64,96,128,200,400")
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out-dir", required=True)
    a = p.parse_args()
    a.efs = [int(x) for x in a.efs.split(",") if x]

    base = load(a.base, a.dim)
    queries = load(a.queries, a.dim)

    def emit(obj):
        print(json.dumps(obj), flush=True)

    if a.system == "hnswlib":
        run_hnswlib(a, base, queries, emit)
    else:
        run_faiss(a, base, queries, emit)


if __name__ == "__main__":
    sys.exit(main())
