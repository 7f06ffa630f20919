package loadgen

import (
	"fmt"
	"html"
	"strings"
)

// SurgeSVG draws a surge's consumer lag over time (matcher and projections, left
// axis) with the needs arrived (right axis), as a standalone SVG image.
func SurgeSVG(r SurgeReport) []byte {
	const w, h, left, right, top, bottom = 860.0, 400.0, 80.0, 90.0, 40.0, 60.0
	pw, ph := w-left-right, h-top-bottom
	var maxT, maxLag, maxArr float64
	for _, s := range r.Samples {
		maxT = max(maxT, s.Seconds)
		maxLag = max(maxLag, float64(s.MatcherLag), float64(s.ProjectionLag))
		maxArr = max(maxArr, float64(s.Arrived))
	}
	maxT, maxLag, maxArr = niceCeil(maxT), niceCeil(maxLag), niceCeil(maxArr)
	x := func(t float64) float64 { return left + pw*t/maxT }
	yl := func(v float64) float64 { return top + ph - ph*v/maxLag }
	ya := func(v float64) float64 { return top + ph - ph*v/maxArr }
	line := func(f func(SurgeSample) (float64, float64)) string {
		var b strings.Builder
		for i, s := range r.Samples {
			px, py := f(s)
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", px, py)
		}
		return b.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`, w, h, w, h)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>`)
	title := fmt.Sprintf("激增：%d 个区 %d 条需求、%d 项资源 · Surge: %d needs and %d offers across %d districts",
		r.Districts, r.Needs, r.Offers, r.Needs, r.Offers, r.Districts)
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="14" font-weight="bold">%s</text>`, left, html.EscapeString(title))
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		gy := top + ph - ph*f
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, left+pw, gy, gy)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, left-6, gy+4, human(maxLag*f))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" fill="#888">%s</text>`, left+pw+6, gy+4, human(maxArr*f))
		tx := left + pw*f
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s s</text>`, tx, top+ph+18, human(maxT*f))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">时间 · time since the first need (s)</text>`, left+pw/2, top+ph+40)
	fmt.Fprintf(&b, `<text transform="translate(18 %.0f) rotate(-90)" text-anchor="middle">积压条目 · entries behind</text>`, top+ph/2)
	fmt.Fprintf(&b, `<text transform="translate(%.0f %.0f) rotate(90)" text-anchor="middle" fill="#888">已到达需求 · needs arrived</text>`, w-14, top+ph/2)
	if len(r.Samples) > 0 {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#aaa" stroke-dasharray="4 3" stroke-width="1.5" points="%s"/>`,
			line(func(s SurgeSample) (float64, float64) { return x(s.Seconds), ya(float64(s.Arrived)) }))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#c0392b" stroke-width="2" points="%s"/>`,
			line(func(s SurgeSample) (float64, float64) { return x(s.Seconds), yl(float64(s.MatcherLag)) }))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#2471a3" stroke-width="2" points="%s"/>`,
			line(func(s SurgeSample) (float64, float64) { return x(s.Seconds), yl(float64(s.ProjectionLag)) }))
	}
	legend := []struct{ colour, dash, text string }{
		{"#c0392b", "", "匹配器积压 · matcher lag"},
		{"#2471a3", "", "读模型积压 · read-model lag"},
		{"#aaa", "4 3", "已到达需求 · needs arrived"},
	}
	for i, l := range legend {
		lx := left + 10 + float64(i)*230
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, lx, lx+24, top+10, top+10, l.colour, l.dash)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`, lx+30, top+14, html.EscapeString(l.text))
	}
	if r.AbsorbedSeconds > 0 && maxT > 0 {
		ax := x(r.AbsorbedSeconds)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#c0392b" stroke-dasharray="2 2"/>`, ax, ax, top, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#c0392b" text-anchor="end">全部已匹配 · all decided %.1f s </text>`, ax-3, top+30, r.AbsorbedSeconds)
	}
	b.WriteString(`</svg>`)
	return []byte(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// human prints a count briefly: 950, 12k, 1.5M.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), ".0") + "M"
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e3), ".0") + "k"
	}
	return fmt.Sprintf("%.0f", v)
}
