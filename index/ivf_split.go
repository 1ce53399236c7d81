package index

import (
	"github.com/viterin/vek/vek32"
)

// splitRounds bounds the 2-means iterations of a split; they usually settle in 3 to 5.
const splitRounds = 8

// splitLocked divides list li, which outgrew its target, in two by spherical 2-means on
// its own rows (their dequantized codes): seeded with the row least like the list's
// centroid and the row least like that one, then alternating assignment and re-centring.
// The first half keeps the list's number and the second becomes a new list. Rows that
// 2-means cannot separate (all alike) are halved by position, so a list stays bounded
// whatever the data. Cost: a few passes over one list, once per target-size inserts.
func (x *IVF) splitLocked(li int) {
	l := x.lists[li]
	n, dim := l.len(), x.dim
	vecs := make([]float32, n*dim)
	for i := 0; i < n; i++ {
		v, s := vecs[i*dim:(i+1)*dim], l.scales[i]
		for j, c := range l.code(dim, i) {
			v[j] = s * float32(c)
		}
	}
	row := func(i int) []float32 { return vecs[i*dim : (i+1)*dim] }
	leastLike := func(c []float32) int {
		best, bestSim := 0, float32(2)
		for i := 0; i < n; i++ {
			if s := vek32.Dot(row(i), c); s < bestSim {
				best, bestSim = i, s
			}
		}
		return best
	}
	a := leastLike(x.cent.vec(li))
	b := leastLike(row(a))
	ca, cb := append([]float32(nil), row(a)...), append([]float32(nil), row(b)...)
	side := make([]bool, n) // true: the second half
	nb := 0
	for round := 0; round < splitRounds; round++ {
		changed := round == 0
		nb = 0
		for i := 0; i < n; i++ {
			s := vek32.Dot(row(i), cb) > vek32.Dot(row(i), ca)
			changed = changed || s != side[i]
			side[i] = s
			if s {
				nb++
			}
		}
		if nb == 0 || nb == n || !changed {
			break
		}
		if !centre(ca, vecs, dim, side, false) || !centre(cb, vecs, dim, side, true) {
			nb = 0
			break
		}
	}
	if nb == 0 || nb == n {
		for i := range side {
			side[i] = i >= n/2
		}
		nb = n - n/2
		centre(ca, vecs, dim, side, false)
		centre(cb, vecs, dim, side, true)
	}
	first, second := &ivfList{}, &ivfList{}
	first.grow(dim, n-nb)
	second.grow(dim, nb)
	for i := 0; i < n; i++ {
		dst := first
		if side[i] {
			dst = second
		}
		dst.push(dim, l.code(dim, i), l.scales[i], l.keys[i], l.stamps[i])
	}
	x.lists[li] = first
	x.cent.set(li, ca)
	x.lists = append(x.lists, second)
	x.cent.add(cb)
	nl := len(x.lists) - 1
	for pos, k := range first.keys {
		x.row.set(k, loc(li, pos))
	}
	for pos, k := range second.keys {
		x.row.set(k, loc(nl, pos))
	}
	x.epoch++
}

// centre sets c to the normalized mean of the rows on the given side, reporting false when
// the mean is zero (no direction to normalize).
func centre(c, vecs []float32, dim int, side []bool, which bool) bool {
	clear(c)
	for i, s := range side {
		if s == which {
			vek32.Add_Inplace(c, vecs[i*dim:(i+1)*dim])
		}
	}
	n := vek32.Norm(c)
	if !(n > 0) {
		return false
	}
	vek32.DivNumber_Inplace(c, n)
	return true
}
