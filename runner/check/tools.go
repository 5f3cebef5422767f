package check

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// toolsSource is the trusted function that compiles candidates' code,
// compares images and measures code inside the platform's sandbox.
//
//go:embed tools/faaslab_check.py
var toolsSource []byte

const (
	toolsModule  = "faaslab_check"
	toolsTimeout = time.Minute
	toolsMemory  = 1024
	// metricsMemory is the memory size of the containers that measure
	// code: Lambda's and the local platform's size for one full vCPU.
	// pylint is single-threaded; at toolsMemory its import alone (most of
	// its time) would run at 0.58 vCPU.
	metricsMemory = 1769
	// maxSourceBytes keeps a compile or metrics request well under
	// Lambda's 6 MB payload limit after base64 encoding.
	maxSourceBytes = 4 << 20
	// maxImageBytes bounds the two images of an image request together,
	// for the same reason.
	maxImageBytes = 4 << 20
)

// toolsPackages are the Python packages the tools import.
var toolsPackages = []string{"pillow", "pylint", "radon"}

// toolsKey says which tools deployment serves a request: the runtime and
// architecture of the code in question, and whether every invocation
// needs a new container.
type toolsKey struct {
	runtime, arch string
	cold          bool
}

// toolDeployment is one deployed tools function. mu serialises its
// invocations with Close, as Deployment requires.
type toolDeployment struct {
	key toolsKey
	mu  sync.Mutex
	dep platform.Deployment
	dir string
}

// invokeTools runs one request through a shared tools function for
// like's runtime and architecture. Requests that make untrusted data do
// more than compile (Pillow decodes images) must be cold: each then gets
// a new container, which no later request shares. (Metrics requests,
// which may run untrusted code, go to a zygote or a spare instead; see
// StaticMetrics.) invokeTools decodes a successful result into out and
// returns the invocation either way.
func (c *Checker) invokeTools(ctx context.Context, like platform.Function, cold bool, req any, out any) (platform.Invocation, error) {
	event, err := json.Marshal(req)
	if err != nil {
		return platform.Invocation{}, fmt.Errorf("check tools: encode request: %w", err)
	}
	td, err := c.acquireTools(ctx, toolsKey{runtime: like.Runtime, arch: like.Arch, cold: cold})
	if err != nil {
		return platform.Invocation{}, err
	}
	inv, err := td.invoke(ctx, event, out)
	c.releaseTools(td)
	return inv, err
}

// invoke sends one request to td and decodes a successful result into
// out. It returns the invocation either way.
func (td *toolDeployment) invoke(ctx context.Context, event []byte, out any) (platform.Invocation, error) {
	td.mu.Lock()
	inv, err := td.dep.Invoke(ctx, event)
	td.mu.Unlock()
	if err != nil {
		return inv, fmt.Errorf("check tools: invoke: %w", err)
	}
	if inv.Status == platform.StatusOK {
		if err := json.Unmarshal(inv.Result, out); err != nil {
			return inv, fmt.Errorf("check tools: decode result: %w", err)
		}
	}
	return inv, nil
}

// acquireTools returns an idle tools deployment for key, deploying a new
// one when none is idle, so that concurrent checks do not wait for each
// other. releaseTools makes it idle again.
func (c *Checker) acquireTools(ctx context.Context, key toolsKey) (*toolDeployment, error) {
	c.toolsMu.Lock()
	if idle := c.idleTools[key]; len(idle) > 0 {
		td := idle[len(idle)-1]
		c.idleTools[key] = idle[:len(idle)-1]
		c.toolsMu.Unlock()
		return td, nil
	}
	c.toolsMu.Unlock()
	return c.deployTools(ctx, key, toolsMemory)
}

// deployTools deploys a new tools function for key, at memoryMB, and
// registers it, so that Close tears it down.
func (c *Checker) deployTools(ctx context.Context, key toolsKey, memoryMB int) (*toolDeployment, error) {
	dir, err := os.MkdirTemp("", "faaslab-check-tools-")
	if err != nil {
		return nil, fmt.Errorf("check tools: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, toolsModule+".py"), toolsSource, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("check tools: %w", err)
	}
	dep, err := c.toolsPlatform().Deploy(ctx, platform.Function{
		Name:     uniqueName("check-tools"),
		CodeDir:  dir,
		Handler:  toolsModule + ".handler",
		Runtime:  key.runtime,
		Arch:     key.arch,
		MemoryMB: memoryMB,
		Timeout:  toolsTimeout,
		Packages: toolsPackages,
		Cold:     key.cold,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("check tools: deploy: %w", err)
	}
	td := &toolDeployment{key: key, dep: dep, dir: dir}
	c.toolsMu.Lock()
	defer c.toolsMu.Unlock()
	if c.tools == nil {
		c.tools = map[*toolDeployment]bool{}
	}
	c.tools[td] = true
	return td, nil
}

// retireTools tears td down now, unless Close did already.
func (c *Checker) retireTools(ctx context.Context, td *toolDeployment) error {
	c.toolsMu.Lock()
	live := c.tools[td]
	delete(c.tools, td)
	c.toolsMu.Unlock()
	if !live {
		return nil
	}
	td.mu.Lock()
	defer td.mu.Unlock()
	err := td.dep.Close(ctx)
	os.RemoveAll(td.dir)
	if err != nil {
		return fmt.Errorf("check tools %s/%s: close: %w", td.key.runtime, td.key.arch, err)
	}
	return nil
}

// releaseTools makes td idle, unless Close tore it down meanwhile.
func (c *Checker) releaseTools(td *toolDeployment) {
	c.toolsMu.Lock()
	defer c.toolsMu.Unlock()
	if !c.tools[td] {
		return
	}
	if c.idleTools == nil {
		c.idleTools = map[toolsKey][]*toolDeployment{}
	}
	c.idleTools[td.key] = append(c.idleTools[td.key], td)
}

// Close tears down the tools the Checker deployed, waiting for requests
// in flight, and the zygotes and spare metrics containers, stopping
// those still starting. Its error includes failures to tear down the containers that
// measured code, which StaticMetrics leaves to the background. The
// Checker may be used again afterwards; it then deploys them anew.
func (c *Checker) Close(ctx context.Context) error {
	var errs []error
	if err := c.stopSpares(); err != nil {
		errs = append(errs, err)
	}
	c.toolsMu.Lock()
	defer c.toolsMu.Unlock()
	for td := range c.tools {
		td.mu.Lock()
		if err := td.dep.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("check tools %s/%s: close: %w", td.key.runtime, td.key.arch, err))
		}
		td.mu.Unlock()
		os.RemoveAll(td.dir)
	}
	c.tools, c.idleTools = nil, nil
	return errors.Join(errs...)
}

// compileResult is the tools' answer to a compile request.
type compileResult struct {
	OK      bool   `json:"ok"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// syntaxError compiles every Python file of fn's code, without running
// it, with fn's runtime inside the platform. It returns the first syntax
// error as "file:line:column: type: message", or "" when all compile.
func (c *Checker) syntaxError(ctx context.Context, fn platform.Function) (string, error) {
	files, err := readSources(fn.CodeDir)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", nil // nothing to compile; the import will say what is missing
	}
	var res compileResult
	inv, err := c.invokeTools(ctx, fn, false, map[string]any{"op": "compile", "files": files}, &res)
	if err != nil {
		return "", err
	}
	if err := toolsStarted("compile", inv); err != nil {
		return "", err
	}
	switch inv.Status {
	case platform.StatusOK:
	case platform.StatusTimeout, platform.StatusCrash:
		// The compiler itself gave up on this code: it cannot run.
		return failure("the compiler "+string(inv.Status), inv), nil
	default:
		return "", fmt.Errorf("check tools: compile: %s", failure(string(inv.Status), inv))
	}
	if res.OK {
		return "", nil
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", res.File, res.Line, res.Column, res.Type, res.Message), nil
}

// toolsStarted is an infrastructure error when the tools' container never
// finished starting: the tools are faaslab's own code, so an init timeout
// means a host too busy, and must not class the candidate SE or FD.
func toolsStarted(op string, inv platform.Invocation) error {
	if inv.InitTimedOut {
		return fmt.Errorf("check tools: %s: %w: the tools' container did not start within the init timeout (is the host overloaded?)", op, platform.ErrInfrastructure)
	}
	return nil
}

// readSources returns every .py file under dir, base64-encoded, by
// slash-separated relative path. It skips __pycache__ and anything but
// regular files, and fails beyond maxSourceBytes in all, before reading
// a file that would exceed it.
func readSources(dir string) (map[string]string, error) {
	files := map[string]string{}
	total := int64(0)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".py") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		tooMuch := fmt.Errorf("more than %d bytes of Python source", maxSourceBytes)
		if total+info.Size() > maxSourceBytes {
			return tooMuch
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if total += int64(len(data)); total > maxSourceBytes {
			return tooMuch
		}
		rel, _ := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = base64.StdEncoding.EncodeToString(data)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check: read code in %s: %w", dir, err)
	}
	return files, nil
}

// hasCode reports whether some .py file under dir (outside __pycache__)
// holds more than white space. It reads the files as data on the host,
// which runs nothing of them.
func hasCode(dir string) (bool, error) {
	found := false
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".py") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(data)) > 0 {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("check: read code in %s: %w", dir, err)
	}
	return found, nil
}

// imageResult is the tools' answer to an image request.
type imageResult struct {
	Error    string   `json:"error"`
	GotSize  []int    `json:"got_size"`
	WantSize []int    `json:"want_size"`
	GotMode  string   `json:"got_mode"`
	WantMode string   `json:"want_mode"`
	MSE      *float64 `json:"mse"`
	MAD      *float64 `json:"mad"`
}

// compareImages compares the images at cmp.Field in two outputs. Both
// are decoded with Pillow in a cold tools container, since images are
// untrusted data; identical bytes are equal without decoding. Both
// images travel in one request, so when they differ and together exceed
// maxImageBytes they cannot be compared: that is FD, with a detail that
// says so, since the candidate's image is not byte for byte the
// reference's.
func (c *Checker) compareImages(ctx context.Context, cand platform.Function, cmp Compare, got, want json.RawMessage) (bool, string, string, error) {
	path := cmp.Field
	if path == "" {
		path = "$"
	}
	gotImg, detail := imageAt(got, path)
	if detail != "" {
		return false, path, "output: " + detail, nil
	}
	wantImg, detail := imageAt(want, path)
	if detail != "" {
		return false, path, "reference output: " + detail, nil
	}
	if bytes.Equal(gotImg, wantImg) {
		return true, "", "", nil
	}
	if len(gotImg)+len(wantImg) > maxImageBytes {
		return false, path, fmt.Sprintf("images too large to compare: output %d bytes and reference %d bytes differ, and more than %d bytes together cannot be sent to the sandbox",
			len(gotImg), len(wantImg), maxImageBytes), nil
	}
	req := map[string]any{
		"op":   "image",
		"got":  base64.StdEncoding.EncodeToString(gotImg),
		"want": base64.StdEncoding.EncodeToString(wantImg),
	}
	var res imageResult
	inv, err := c.invokeTools(ctx, cand, true, req, &res)
	if err != nil {
		return false, "", "", err
	}
	if err := toolsStarted("image", inv); err != nil {
		return false, "", "", err
	}
	switch inv.Status {
	case platform.StatusOK:
	case platform.StatusTimeout, platform.StatusCrash:
		// Decoding a hostile image (a decompression bomb, say) ran out of
		// time or memory: the output is not the reference's image.
		return false, path, failure("decoding the images "+string(inv.Status), inv), nil
	default:
		return false, "", "", fmt.Errorf("check tools: image: %s", failure(string(inv.Status), inv))
	}
	return judgeImages(cmp, path, res)
}

// judgeImages applies cmp's metric and threshold to a measurement.
func judgeImages(cmp Compare, path string, res imageResult) (bool, string, string, error) {
	switch {
	case res.Error != "":
		return false, path, res.Error, nil
	case fmt.Sprint(res.GotSize) != fmt.Sprint(res.WantSize):
		return false, path, fmt.Sprintf("image size: got %s, want %s", size(res.GotSize), size(res.WantSize)), nil
	case res.GotMode != res.WantMode:
		return false, path, fmt.Sprintf("image mode: got %s, want %s", res.GotMode, res.WantMode), nil
	case res.MSE == nil || res.MAD == nil:
		return false, "", "", errors.New("check tools: image: incomplete measurement")
	}
	switch cmp.Metric {
	case MetricMAD:
		limit := cmp.Threshold
		if limit == 0 {
			limit = DefaultMADThreshold
		}
		if *res.MAD <= limit {
			return true, "", "", nil
		}
		return false, path, fmt.Sprintf("mean absolute difference %.4g > %g", *res.MAD, limit), nil
	default:
		limit := cmp.Threshold
		if limit == 0 {
			limit = DefaultPSNRThreshold
		}
		psnr := math.Inf(1)
		if *res.MSE > 0 {
			psnr = 10 * math.Log10(255*255 / *res.MSE)
		}
		if psnr >= limit {
			return true, "", "", nil
		}
		return false, path, fmt.Sprintf("PSNR %.4g dB < %g dB", psnr, limit), nil
	}
}

func size(wh []int) string {
	if len(wh) != 2 {
		return "?"
	}
	return fmt.Sprintf("%dx%d", wh[0], wh[1])
}

// imageAt returns the decoded bytes of the base64 image string at path,
// or a detail saying why there is none. A data: URL prefix is accepted.
func imageAt(output []byte, path string) ([]byte, string) {
	v, err := parseValue(output)
	if err != nil {
		return nil, err.Error()
	}
	if v, err = lookup(v, path); err != nil {
		return nil, err.Error()
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Sprintf("want a base64 image string, got %s", kind(v))
	}
	if strings.HasPrefix(s, "data:") {
		if i := strings.Index(s, ","); i >= 0 {
			s = s[i+1:]
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) == 0 {
				return nil, "empty image string"
			}
			return b, ""
		}
	}
	return nil, "image string is not base64"
}
