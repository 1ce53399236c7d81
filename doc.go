// Package engram is an embedded, in-process memory store: an application opens one local
// file ([Open]), creates named memory spaces ([Store.Space]), remembers memories (content,
// embedding, confidence, timestamps, metadata) in batches ([Space.BatchRemember]) and
// recalls the memories nearest to a cue ([Space.Recall]).
//
// A [Store] and its [Space] values are safe for concurrent use. Recalls run in parallel
// with each other and with writes; writes to different spaces only meet at bbolt's commit.
// Durability: with default options, once a write call returns successfully its memories
// survive a crash of the process or the machine (every commit is fsync'd).
//
// Errors are [*Error] values with a stable [Code]; match them with errors.Is against the
// Err* sentinels (ErrNotFound, ...) or read the code with [CodeOf]. Batch calls report
// failures per item ([BatchResult]): a bad item never blocks the valid ones.
//
// # Storage layout
//
// One bbolt file. Bucket "spaces" maps each space name to its config (dimension, index
// choice, HNSW parameters, confidence weight, tiering and decay). Each space owns flat
// top-level buckets named <space>/<kind> (layout.go): records (sequence number → a
// versioned, CRC-checked record: the memory with its unit-normalized embedding and, in
// record v2, its expiry), ids
// (memory ID → sequence number, only for IDs that do not carry their record's number),
// access (recall statistics, flushed lazily), tiers (the tier of memories moved since they
// were written), snapshot (the graph index's links), warm (the warm index's links) and
// checkpoints (an application's named values). Flat buckets spare each commit a page per
// nesting level.
//
// # Write path
//
// [Space.BatchRemember] — and Remember, Archive, batchers, streams and RememberAll, which
// all call it — runs, in batch.go's order:
//
//  1. validate each memory on its own (a bad one fails alone with its code);
//  2. reserve the valid ones' record sequence numbers (and generate missing IDs, which
//     carry their record's number, so they need no ID-map entry);
//  3. encode: normalize every embedding in one SIMD pass, encode every record into one
//     buffer; on a graph space, start linking the batch into the graph, hidden, while the
//     commit runs;
//  4. commit the records in one transaction through group commit;
//  5. apply, in the space's commit order: publish (or insert) the vectors in the hot index
//     and update the tier bookkeeping, the filter postings, the expiry schedule and the
//     metrics (placement.go). A memory is never searchable before it is durable; a failed
//     commit leaves no trace.
//
// # Group commit
//
// Every write of a space is a request to the store's committer (commit.go). Concurrent
// requests share one bbolt transaction — one fsync — with no fixed wait: the first request
// commits at once, and whatever queues up meanwhile goes into the next transaction. A
// member whose write fails is taken out and the rest rerun without it; a failed commit
// fails exactly its group. After the commit, each member gets a ticket of its space's
// turnstile (turnstile.go) and applies its change to the in-memory state in ticket order,
// so the index work of one commit overlaps the next commit. The comment on type committer
// numbers its invariants and lists the writes that bypass it.
//
// # Tiers
//
// With [WithTiering] a space keeps at most about its hot capacity in the in-memory graph
// (hot); the rest are warm (8-bit codes in a graph of their own, warm.go: a quarter of the
// float32 vectors) or cold (on disk only, searched when a query names the cold tier,
// always readable by [Space.Get]). Default recall searches hot and warm together and
// re-ranks the warm candidates at full precision from the records. A background migrator
// (migrate.go) promotes recalled memories, demotes the least active hot ones past the high
// watermark, and cools idle warm ones; a move rewrites only the memory's nine-byte tier
// entry, and the in-memory side follows in commit order (a demotion links the memory into
// the warm index, hidden, while its commit runs). At Open the tier entries decide, so
// every memory is in exactly one tier.
//
// # In memory
//
// Everything in memory is derived from the file and rebuilt at [Open]: the hot index and
// the warm index (each from its snapshot when there is a usable one, reconciled with the
// records), the tier counts, the hot tier's activation statistics, the filter postings
// (the memories of every metadata key=value pair and tag, postings.go) and the expiry
// schedule (expiry.go). [Store.Check] compares each of them with the file.
//
// # Filters and expiry
//
// [Query.Where] takes a [Filter]; its metadata and tag tests are answered from the
// postings, and a filter selective enough is answered by scoring only its matches (the
// postings plan) instead of searching the graph (plan.go). Expired memories ([WithTTL],
// Memory.ExpiresAt) are invisible to every read at once and removed by the migrator.
package engram
