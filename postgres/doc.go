// Package postgres moves memories between PostgreSQL and an engram space, both ways:
//
//   - Import reads the rows of a table or query (COPY TO STDOUT in binary, or a streamed
//     query), converts them to memories by a column Mapping and stores them with
//     BatchRemember, the three stages overlapped and bounded so that any table size runs in
//     constant memory. It is resumable: rows are read in the order of a unique key, and the
//     last committed key is recorded in the space, so an import killed at any moment and
//     run again with Resume neither loses nor duplicates a row.
//   - Rows reads the same way without storing, for programs that transform rows first.
//   - Export writes a space to a table with COPY FROM (or INSERTs for a pgvector column),
//     creating it on request with an HNSW index; Sync makes a table mirror a space,
//     upserting what changed and deleting what was forgotten.
//
// Rows that do not convert or that the store rejects are reported one by one (RowError:
// key, column, code) and the rest goes on.
//
// It is its own module (github.com/engram-go/engram/postgres) so that the engram library
// keeps its three dependencies; it adds only pgx (github.com/jackc/pgx/v5), a pure-Go
// driver, for the wire protocol, COPY, and connection pooling.
package postgres
