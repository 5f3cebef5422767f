package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/report/reporttest"
)

// chromium finds Debian's chromium, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (scripts/install-deps installs it)")
	return ""
}

// headless runs chromium on the page with extra arguments and returns its
// stdout and the console messages it logged. It touches no network: the
// page is a file, background networking is off, and the report's content
// security policy forbids loading anything.
func headless(t *testing.T, bin, page string, args ...string) (stdout []byte, console []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--disable-default-apps", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errOut.String())
	}
	for _, line := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	return out.Bytes(), console
}

var (
	svgElement = regexp.MustCompile(`(?s)<svg[^>]*>.*?</svg>`)
	svgShape   = regexp.MustCompile(`<(rect|line|circle|polyline)\b[^>]*>`)
)

// TestHTMLInChromium opens the HTML report of a made-up run in headless
// Chromium: it must load without a console message (no script errors, no
// blocked loads), its charts must be in the rendered page with shapes in
// each, and a screenshot of it is kept.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	d, _ := fixture(t, reporttest.Run{ID: "run-a"})
	r := Build(d, Options{})
	charts := 0
	for _, s := range r.Sections {
		for _, b := range s.Blocks {
			if _, ok := b.(*Table); !ok {
				charts++
			}
		}
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	dom, console := headless(t, bin, page, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("the report logged to the console:\n%s", strings.Join(console, "\n"))
	}
	svgs := svgElement.FindAll(dom, -1)
	if len(svgs) < charts || charts < 10 {
		t.Errorf("the rendered page has %d svg elements; the report has %d charts", len(svgs), charts)
	}
	for i, s := range svgs {
		if n := len(svgShape.FindAll(s, -1)); n < 2 {
			t.Errorf("svg %d has %d shapes: %.200s", i, n, s)
		}
	}
	if !bytes.Contains(dom, []byte("Runtime % difference vs reference (Table 4)")) {
		t.Error("the rendered page lacks the Table 4 section")
	}

	shot := filepath.Join(t.ArtifactDir(), "report.png")
	headless(t, bin, page, "--screenshot="+shot, "--window-size=1280,2400", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	// Something was drawn: not every pixel is the background's.
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	drawn := 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			if img.At(x, y) != first {
				drawn++
			}
		}
	}
	if b.Dx() < 1000 || drawn < 1000 {
		t.Errorf("screenshot %s is %v with %d drawn sample pixels", shot, b, drawn)
	}
	t.Logf("screenshot: %s (%v)", shot, b)
}

// TestChromiumSeesConsoleErrors shows that headless catches what the
// report test looks for: a script's console error and a blocked load.
func TestChromiumSeesConsoleErrors(t *testing.T) {
	bin := chromium(t)
	page := filepath.Join(t.TempDir(), "bad.html")
	html := `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'"></head>` +
		`<body><script>console.error("broken page")</script><img src="http://127.0.0.1:9/x.png"></body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	_, console := headless(t, bin, page, "--dump-dom")
	text := strings.Join(console, "\n")
	if !strings.Contains(text, "broken page") || !strings.Contains(text, "Content Security Policy") {
		t.Errorf("console messages of a broken page not seen:\n%s", text)
	}
}
