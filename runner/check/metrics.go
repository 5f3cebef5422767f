package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Metrics are a function's static code metrics, as the paper's Fig. 3
// reports them. A nil metric could not be measured; Note says why.
type Metrics struct {
	// Cyclomatic is radon's cyclomatic complexity averaged over every
	// function and method (classes themselves are not counted).
	Cyclomatic *float64
	// Halstead is radon's Halstead difficulty of each file as a whole
	// (radon's "total", not per function), averaged over the files.
	Halstead *float64
	// Maintainability is radon's maintainability index (0–100),
	// averaged over the files.
	Maintainability *float64
	// PylintScore is pylint's global evaluation, 0–10, over all files,
	// with pylint's default configuration.
	PylintScore *float64
	// Note lists, one per line, why metrics are missing.
	Note string
}

// toolTimeout bounds each run of radon or pylint.
const toolTimeout = time.Minute

// StaticMetrics measures the Python code in codeDir with radon and
// pylint, found on PATH. The tools only parse the code, but it is
// untrusted: they run on a temporary copy, with an empty environment
// (HOME is the copy), a timeout and, where the kernel allows, no network.
// A tool that is missing or fails leaves its metrics nil with a reason in
// Note; no number is ever made up.
func StaticMetrics(ctx context.Context, codeDir string) (m Metrics) {
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	defer func() { m.Note = strings.Join(notes, "\n") }()

	work, err := os.MkdirTemp("", "faaslab-metrics-")
	if err != nil {
		note("temporary copy: %v", err)
		return m
	}
	defer os.RemoveAll(work)
	files, err := copySources(codeDir, work)
	switch {
	case err != nil:
		note("copy %s: %v", codeDir, err)
		return m
	case len(files) == 0:
		note("no Python files in %s", codeDir)
		return m
	}

	// pylint takes seconds where radon takes a fraction of one: run it
	// beside radon.
	var pylintNotes []string
	pylintDone := make(chan struct{})
	go func() {
		defer close(pylintDone)
		pylintNote := func(format string, args ...any) { pylintNotes = append(pylintNotes, fmt.Sprintf(format, args...)) }
		if pylint, err := exec.LookPath("pylint"); err != nil {
			pylintNote("pylint: not installed: %v", err)
		} else {
			m.PylintScore = measure("pylint", pylintNote, func() (float64, error) { return pylintScore(ctx, pylint, work, files) })
		}
	}()
	if radon, err := exec.LookPath("radon"); err != nil {
		note("radon: not installed: %v", err)
	} else {
		m.Cyclomatic = measure("radon cc", note, func() (float64, error) { return radonCyclomatic(ctx, radon, work, files) })
		m.Halstead = measure("radon hal", note, func() (float64, error) { return radonPerFile(ctx, radon, work, files, "hal", halsteadDifficulty) })
		m.Maintainability = measure("radon mi", note, func() (float64, error) { return radonPerFile(ctx, radon, work, files, "mi", maintainability) })
	}
	<-pylintDone
	notes = append(notes, pylintNotes...)
	return m
}

// measure runs f and returns its value, or nil after noting its error.
func measure(name string, note func(string, ...any), f func() (float64, error)) *float64 {
	v, err := f()
	if err != nil {
		note("%s: %v", name, err)
		return nil
	}
	return &v
}

// copySources copies the .py files under src into dst and returns their
// slash-separated relative paths.
func copySources(src, dst string) ([]string, error) {
	var files []string
	err := walkSources(src, func(rel string, data []byte) error {
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		files = append(files, rel)
		return os.WriteFile(target, data, 0o644)
	})
	return files, err
}

// runTool runs a tool in dir with an empty environment, a timeout and a
// network namespace of its own. It returns stdout; a non-zero exit is not
// an error, since pylint's exit status encodes the messages it found.
func runTool(ctx context.Context, dir, tool string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := func(isolate bool) *exec.Cmd {
		cmd := exec.CommandContext(ctx, tool, args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + dir}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if isolate {
			cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
			if os.Geteuid() != 0 {
				cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
				cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
				cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
			}
		}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	c := cmd(true)
	err := c.Start()
	if err != nil && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC)) {
		// No namespaces here. The tools only parse the code, so run them
		// without one rather than not at all.
		c = cmd(false)
		err = c.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	err = c.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("timed out or cancelled: %w", ctx.Err())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, err
	}
	if err != nil && stdout.Len() == 0 {
		return nil, fmt.Errorf("%w: %s", err, lastLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// lastLine returns the last non-blank line of s, where Python puts the
// exception of a traceback.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// radonCyclomatic averages `radon cc -j` over functions and methods.
func radonCyclomatic(ctx context.Context, radon, dir string, files []string) (float64, error) {
	out, err := runTool(ctx, dir, radon, append([]string{"cc", "-j"}, files...)...)
	if err != nil {
		return 0, err
	}
	var report map[string]json.RawMessage
	if err := json.Unmarshal(out, &report); err != nil {
		return 0, fmt.Errorf("parse output: %w", err)
	}
	sum, n := 0.0, 0
	for _, f := range files {
		entry, ok := report[f]
		if !ok {
			continue // radon leaves out files without blocks
		}
		var blocks []struct {
			Type       string  `json:"type"`
			Complexity float64 `json:"complexity"`
		}
		if err := json.Unmarshal(entry, &blocks); err != nil {
			return 0, fmt.Errorf("%s: %s", f, radonError(entry))
		}
		// radon lists a class's methods both inside the class and on their
		// own, as type "method"; counting the flat entries counts each once.
		for _, b := range blocks {
			if b.Type == "function" || b.Type == "method" {
				sum += b.Complexity
				n++
			}
		}
	}
	if n == 0 {
		return 0, errors.New("no functions or methods")
	}
	return sum / float64(n), nil
}

// radonPerFile runs `radon <sub> -j` and averages value over the files.
func radonPerFile(ctx context.Context, radon, dir string, files []string, sub string, value func(json.RawMessage) (float64, error)) (float64, error) {
	out, err := runTool(ctx, dir, radon, append([]string{sub, "-j"}, files...)...)
	if err != nil {
		return 0, err
	}
	var report map[string]json.RawMessage
	if err := json.Unmarshal(out, &report); err != nil {
		return 0, fmt.Errorf("parse output: %w", err)
	}
	sum := 0.0
	for _, f := range files {
		v, err := value(report[f])
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		sum += v
	}
	return sum / float64(len(files)), nil
}

// halsteadDifficulty reads the difficulty from a file's `radon hal -j`
// entry, whose "total" is [h1, h2, N1, N2, vocabulary, length,
// calculated length, volume, difficulty, effort, time, bugs].
func halsteadDifficulty(entry json.RawMessage) (float64, error) {
	var e struct {
		Total []float64 `json:"total"`
	}
	if err := json.Unmarshal(entry, &e); err != nil || len(e.Total) < 9 {
		return 0, errors.New(radonError(entry))
	}
	return e.Total[8], nil
}

// maintainability reads the index from a file's `radon mi -j` entry.
func maintainability(entry json.RawMessage) (float64, error) {
	var e struct {
		MI *float64 `json:"mi"`
	}
	if err := json.Unmarshal(entry, &e); err != nil || e.MI == nil {
		return 0, errors.New(radonError(entry))
	}
	return *e.MI, nil
}

// radonError explains an entry that holds no metrics: radon reports a
// file it cannot parse as {"error": "..."}.
func radonError(entry json.RawMessage) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(entry, &e) == nil && e.Error != "" {
		return e.Error
	}
	if len(entry) == 0 {
		return "not in radon's report"
	}
	return "unexpected radon output"
}

var pylintRating = regexp.MustCompile(`rated at (-?[0-9.]+)/10`)

// pylintScore runs pylint with its default checks and reads the
// "Your code has been rated at X/10" line.
func pylintScore(ctx context.Context, pylint, dir string, files []string) (float64, error) {
	args := append([]string{"--persistent=n", "--score=y", "--reports=n", "--jobs=1"}, files...)
	out, err := runTool(ctx, dir, pylint, args...)
	if err != nil {
		return 0, err
	}
	m := pylintRating.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no score: %s", lastLine(string(out)))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
