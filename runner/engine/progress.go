package engine

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress shows each stage's progress: a bar redrawn in place on a
// terminal, a plain line every Interval elsewhere (CI logs), nothing when
// quiet. A nil *Progress shows nothing. It is safe for concurrent use.
type Progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	mu       sync.Mutex
	last     time.Time
}

// NewProgress writes to w; tty selects the redrawn bar; quiet shows nothing.
func NewProgress(w io.Writer, tty, quiet bool) *Progress {
	if quiet {
		return nil
	}
	iv := 10 * time.Second
	if tty {
		iv = 200 * time.Millisecond
	}
	return &Progress{w: w, tty: tty, interval: iv}
}

// Bar is one stage's counts. Units are done (made now), resumed (found in
// the journal), skipped (not to be made: code that failed its checks is not
// measured) or failed.
type Bar struct {
	p                              *Progress
	name                           string
	total                          int
	done, resumed, skipped, failed int
	start                          time.Time
}

// Stage starts the bar of a stage of total units.
func (p *Progress) Stage(name string, total int) *Bar {
	return &Bar{p: p, name: name, total: total, start: time.Now()}
}

func (b *Bar) Add()         { b.update(1, 0, 0, 0) }
func (b *Bar) AddN(n int)   { b.update(n, 0, 0, 0) }
func (b *Bar) Resume(n int) { b.update(0, n, 0, 0) }
func (b *Bar) Skip(n int)   { b.update(0, 0, n, 0) }
func (b *Bar) FailN(n int)  { b.update(0, 0, 0, n) }

// Done draws the stage's final line.
func (b *Bar) Done() {
	if b.p == nil {
		return
	}
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	b.draw(true)
}

func (b *Bar) update(done, resumed, skipped, failed int) {
	if b.p == nil {
		return
	}
	b.p.mu.Lock()
	defer b.p.mu.Unlock()
	b.done += done
	b.resumed += resumed
	b.skipped += skipped
	b.failed += failed
	if time.Since(b.p.last) >= b.p.interval {
		b.draw(false)
	}
}

// draw writes the bar; the caller holds p.mu.
func (b *Bar) draw(final bool) {
	b.p.last = time.Now()
	n := b.done + b.resumed + b.skipped + b.failed
	elapsed := time.Since(b.start)
	rate := float64(b.done) / elapsed.Seconds()
	line := fmt.Sprintf("%-8s %d/%d", b.name, n, b.total)
	var notes []string
	for _, c := range []struct {
		n    int
		what string
	}{{b.resumed, "resumed"}, {b.skipped, "not to be made"}, {b.failed, "failed"}} {
		if c.n > 0 {
			notes = append(notes, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	if len(notes) > 0 {
		line += " (" + strings.Join(notes, ", ") + ")"
	}
	if b.done > 0 {
		line += fmt.Sprintf(" %.1f/s", rate)
		if left := b.total - n; left > 0 && !final {
			eta := time.Duration(float64(left) / rate * float64(time.Second))
			line += " ETA " + eta.Round(time.Second).String()
		}
	}
	if final {
		line += " in " + elapsed.Round(100*time.Millisecond).String()
	}
	if !b.p.tty {
		fmt.Fprintln(b.p.w, line)
		return
	}
	const width = 24
	fill := 0
	if b.total > 0 {
		fill = width * n / b.total
	}
	bar := "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "] "
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(b.p.w, "\r\033[K%s%s%s", bar, line, end)
}
