package index

import "slices"

// sortTies orders results by similarity descending, then key ascending, making results
// deterministic whatever internal order an index found them in.
func sortTies(rs []Result) {
	slices.SortFunc(rs, func(a, b Result) int {
		switch {
		case a.Similarity > b.Similarity:
			return -1
		case a.Similarity < b.Similarity:
			return 1
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
}
