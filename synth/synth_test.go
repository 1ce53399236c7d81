package synth

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestSameSeedSameMemories(t *testing.T) {
	a := New(Config{Seed: 7, Dim: 32, IDPrefix: "m"}).Batch(200)
	b := New(Config{Seed: 7, Dim: 32, IDPrefix: "m"}).Batch(200)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("same seed produced different memories")
	}
	c := New(Config{Seed: 8, Dim: 32, IDPrefix: "m"}).Batch(200)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds produced the same memories")
	}
}

func TestMemoriesAreRealistic(t *testing.T) {
	g := New(Config{Dim: 64, Topics: 8, IDPrefix: "x"})
	ms := g.Batch(2000)
	cfg := g.Config()
	byTopic := map[string][][]float32{}
	for i, m := range ms {
		if len(m.Embedding) != 64 {
			t.Fatalf("dim %d", len(m.Embedding))
		}
		var ss float64
		for _, x := range m.Embedding {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-4 {
			t.Fatalf("memory %d not unit norm: %v", i, ss)
		}
		if c := *m.Confidence; c < 0 || c > 1 {
			t.Fatalf("confidence %v", c)
		}
		if m.CreatedAt.Before(cfg.Start) || !m.CreatedAt.Before(cfg.End) {
			t.Fatalf("timestamp %v outside range", m.CreatedAt)
		}
		if m.Content == "" || m.Metadata["topic"] == "" || m.Tags[0] != m.Metadata["topic"] || m.ID == "" {
			t.Fatalf("memory %d incomplete: %+v", i, m)
		}
		byTopic[m.Metadata["topic"]] = append(byTopic[m.Metadata["topic"]], m.Embedding)
	}
	if len(byTopic) != 8 {
		t.Fatalf("%d topics used", len(byTopic))
	}
	// Clustered: memories of a topic are closer to each other than to other topics'.
	dot := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	var within, across float64
	var nw, na int
	for name, vs := range byTopic {
		for other, ws := range byTopic {
			for i := 0; i < 5 && i < len(vs); i++ {
				for j := 1; j < 6 && j < len(ws); j++ {
					if name == other {
						within += dot(vs[i], ws[j])
						nw++
					} else {
						across += dot(vs[i], ws[j])
						na++
					}
				}
			}
		}
	}
	within, across = within/float64(nw), across/float64(na)
	if within < 0.7 || across > 0.2 {
		t.Fatalf("not clustered: mean cosine within topics %.2f, across %.2f", within, across)
	}
	cue, topic := g.Cue()
	if len(cue) != 64 || byTopic[topic] == nil {
		t.Fatal("cue")
	}
}
