// Package hash is an embedder that needs nothing: no network, no model, no data file. It
// turns a text into a vector by feature hashing ("the hashing trick"), which makes it the
// embedder for tests, demos, offline synthetic data and a baseline to compare learned
// embedders with. Texts that share words, word pairs and word pieces get similar vectors;
// it knows nothing of synonyms ("car" and "automobile" are unrelated to it).
//
// # How a text becomes a vector
//
//  1. Tokenization: a word is a maximal run of letters, combining marks and decimal digits
//     (Unicode categories L, M and Nd), lower-cased rune by rune (unicode.ToLower).
//     Everything else (spaces, punctuation, symbols, emoji) separates words. No stemming,
//     no stop words, no Unicode normalization: "é" precomposed and "e"+U+0301 differ.
//  2. Features: every distinct word; every pair of adjacent words (WithWordNGrams); the
//     character n-grams of every distinct word padded as "<word>", 3 to 5 runes long by
//     default (WithCharNGrams), so that "running" and "runner" share "<ru", "run", "unn"...
//  3. Weights: a word or pair seen k times weighs sqrt(k) (sublinear term frequency); a
//     pair weighs half a word; a word's n-grams share one word's weight between them.
//  4. Hashing: each feature is hashed (64-bit FNV-1a with a seed-derived basis, then the
//     MurmurHash3 finalizer) to a dimension and a sign; signed hashing makes collisions
//     cancel in expectation, so inner products stay unbiased.
//  5. The vector is L2-normalized: cosine similarity is a dot product.
//
// The vectors are the same in every run and on every platform (the fingerprints in
// TestGolden pass on amd64, 386, arm64, ppc64le and s390x); Name records the scheme's
// version and every option that changes them.
//
// # Speed
//
// `go test -run '^$' -bench . -count 5 ./embed/hash` on the 2-core development machine
// (AMD EPYC, one core used) embedded 330,000 to 393,000 ten-word texts, or 38,000 to 44,000
// two-hundred-word texts, per second, in calls of 256 texts with 2 allocations per call
// (the vectors' backing array and the slice of rows) whatever the number of texts.
package hash
