package main

import (
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // engram
	color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}, // seed (dashed)
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // engram p99
}

// writeChart draws throughput and latency against batch size, engram beside the seed's
// documented figures, on log scales, into path (.svg, .png, .pdf or .jpg by extension).
func writeChart(path string, rows []batchRow) error {
	thr := plot.New()
	thr.Title.Text = "Durable BatchRemember throughput"
	thr.X.Label.Text = "batch size"
	thr.Y.Label.Text = "memories / s"
	lat := plot.New()
	lat.Title.Text = "Latency per batch"
	lat.X.Label.Text = "batch size"
	lat.Y.Label.Text = "ms"
	for _, p := range []*plot.Plot{thr, lat} {
		p.X.Scale = plot.LogScale{}
		p.Y.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top = true
		p.Legend.Left = true // both curves rise to the right: the top left stays clear
		p.Add(plotter.NewGrid())
	}
	n := len(rows)
	ours, seed := make(plotter.XYs, n), make(plotter.XYs, n)
	p50, p99, seedP99 := make(plotter.XYs, n), make(plotter.XYs, n), make(plotter.XYs, n)
	for i, r := range rows {
		x := float64(r.size)
		ours[i] = plotter.XY{X: x, Y: r.opsPerS}
		seed[i] = plotter.XY{X: x, Y: r.seed.opsPerS}
		p50[i] = plotter.XY{X: x, Y: max(float64(r.p50)/1e6, 1e-3)}
		p99[i] = plotter.XY{X: x, Y: max(float64(r.p99)/1e6, 1e-3)}
		seedP99[i] = plotter.XY{X: x, Y: float64(r.seed.p99) / 1e6}
	}
	for _, l := range []struct {
		p     *plot.Plot
		name  string
		xys   plotter.XYs
		style int
	}{
		{thr, "engram", ours, 0},
		{thr, "seed (documented)", seed, 1},
		{lat, "engram p50", p50, 0},
		{lat, "engram p99", p99, 2},
		{lat, "seed p99 (documented)", seedP99, 1},
	} {
		if err := addLine(l.p, l.name, l.xys, l.style); err != nil {
			return err
		}
	}

	w, h := vg.Points(900), vg.Points(380)
	c, err := draw.NewFormattedCanvas(w, h, formatOf(path))
	if err != nil {
		return err
	}
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{thr, lat}}
	canvases := plot.Align(plots, tiles, draw.New(c))
	thr.Draw(canvases[0][0])
	lat.Draw(canvases[0][1])
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, style int) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	col := palette[style%len(palette)]
	l.Color, pts.Color = col, col
	l.Width = vg.Points(1.5)
	pts.Shape = draw.CircleGlyph{}
	if style == 1 {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}

func formatOf(path string) string {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	switch ext {
	case "png", "svg", "pdf", "jpg", "jpeg":
		return ext
	}
	return "svg"
}

func maxprocs() int { return runtime.GOMAXPROCS(0) }
