package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteText writes r as plain-text tables for a terminal. Charts are left
// out: their numbers are in the tables beside them.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, r.Title)
	fmt.Fprintln(bw, strings.Repeat("=", utf8.RuneCountInString(r.Title)))
	for _, n := range r.Notes {
		fmt.Fprintln(bw, n)
	}
	for _, s := range r.Sections {
		fmt.Fprintf(bw, "\n%s\n%s\n", s.Title, strings.Repeat("-", utf8.RuneCountInString(s.Title)))
		for _, n := range s.Notes {
			fmt.Fprintln(bw, n)
		}
		for _, b := range s.Blocks {
			if t, ok := b.(*Table); ok {
				fmt.Fprintln(bw)
				writeTextTable(bw, t)
			}
		}
	}
	return bw.Flush()
}

func writeTextTable(w io.Writer, t *Table) {
	if t.Title != "" {
		fmt.Fprintln(w, t.Title)
	}
	width := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		width[i] = utf8.RuneCountInString(c)
	}
	for _, row := range t.Rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < t.Left {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(t.Columns)
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
	}
	line(rule)
	for _, row := range t.Rows {
		line(row)
	}
}

// WriteMarkdown writes r as Markdown: a heading per section and pipe
// tables. Charts are left out, as in WriteText.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n\n", r.Title)
	for _, n := range r.Notes {
		fmt.Fprintf(bw, "%s\n\n", mdEscape(n))
	}
	for _, s := range r.Sections {
		fmt.Fprintf(bw, "## %s\n\n", s.Title)
		for _, n := range s.Notes {
			fmt.Fprintf(bw, "%s\n\n", mdEscape(n))
		}
		for _, b := range s.Blocks {
			t, ok := b.(*Table)
			if !ok {
				continue
			}
			if t.Title != "" {
				fmt.Fprintf(bw, "**%s**\n\n", mdEscape(t.Title))
			}
			fmt.Fprintf(bw, "| %s |\n", strings.Join(mdCells(t.Columns), " | "))
			align := make([]string, len(t.Columns))
			for i := range align {
				align[i] = "---:"
				if i < t.Left {
					align[i] = "---"
				}
			}
			fmt.Fprintf(bw, "| %s |\n", strings.Join(align, " | "))
			for _, row := range t.Rows {
				fmt.Fprintf(bw, "| %s |\n", strings.Join(mdCells(row), " | "))
			}
			fmt.Fprintln(bw)
		}
	}
	return bw.Flush()
}

var mdReplacer = strings.NewReplacer(`|`, `\|`, `*`, `\*`, `_`, `\_`, "\n", " ")

func mdEscape(s string) string { return mdReplacer.Replace(s) }

func mdCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = mdEscape(c)
	}
	return out
}
