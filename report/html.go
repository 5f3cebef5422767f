package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"
)

// htmlStyle is the report's whole style sheet: system fonts only, so the
// page needs nothing from the network.
const htmlStyle = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.85em}caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{padding:.2em .6em;border-bottom:1px solid #e4e4e4;white-space:nowrap}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
p.note{color:#444;font-size:.9em;max-width:70em}nav a{margin-right:1em}figure{margin:1em 0}svg{display:block;max-width:100%;height:auto}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#222}.scroll{overflow-x:auto}`

// WriteHTML writes r as one self-contained HTML page: inline CSS, charts
// as inline SVG, no scripts, and a content security policy that forbids
// loading anything, so the page shows the same offline.
func WriteHTML(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	e := html.EscapeString
	fmt.Fprintf(bw, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title><style>%s</style></head><body>
<h1>%s</h1>
`, e(r.Title), htmlStyle, e(r.Title))
	for _, n := range r.Notes {
		fmt.Fprintf(bw, "<p class=\"note\">%s</p>\n", e(n))
	}
	if len(r.Sections) > 1 {
		bw.WriteString("<nav>")
		for _, s := range r.Sections {
			fmt.Fprintf(bw, `<a href="#%s">%s</a>`, e(s.ID), e(s.Title))
		}
		bw.WriteString("</nav>\n")
	}
	for _, s := range r.Sections {
		fmt.Fprintf(bw, "<section id=\"%s\"><h2>%s</h2>\n", e(s.ID), e(s.Title))
		for _, n := range s.Notes {
			fmt.Fprintf(bw, "<p class=\"note\">%s</p>\n", e(n))
		}
		for _, b := range s.Blocks {
			switch b := b.(type) {
			case *Table:
				writeHTMLTable(bw, b)
			case *BarChart:
				figure(bw, b.Title, barSVG(b))
			case *BoxChart:
				figure(bw, b.Title, boxSVG(b))
			case *LineChart:
				figure(bw, b.Title, lineSVG(b))
			}
		}
		bw.WriteString("</section>\n")
	}
	bw.WriteString("</body></html>\n")
	return bw.Flush()
}

func figure(w *bufio.Writer, title, svg string) {
	if svg == "" {
		return
	}
	fmt.Fprintf(w, "<figure>%s<figcaption>%s</figcaption></figure>\n", svg, html.EscapeString(title))
}

func writeHTMLTable(w *bufio.Writer, t *Table) {
	e := html.EscapeString
	w.WriteString(`<div class="scroll"><table>`)
	if t.Title != "" {
		fmt.Fprintf(w, "<caption>%s</caption>", e(t.Title))
	}
	w.WriteString("<thead><tr>")
	for _, c := range t.Columns {
		fmt.Fprintf(w, "<th>%s</th>", e(c))
	}
	w.WriteString("</tr></thead><tbody>\n")
	for _, row := range t.Rows {
		w.WriteString("<tr>")
		for i, c := range row {
			if i < t.Left {
				fmt.Fprintf(w, "<td>%s</td>", e(c))
			} else {
				fmt.Fprintf(w, `<td class="n">%s</td>`, e(c))
			}
		}
		w.WriteString("</tr>\n")
	}
	w.WriteString("</tbody></table></div>\n")
}

// svgText escapes text for an SVG element inside HTML.
func svgText(s string) string { return html.EscapeString(strings.TrimSpace(s)) }
