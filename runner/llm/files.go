package llm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// referenceGenerator returns the task's reference implementation as the
// handler module.
type referenceGenerator struct{}

// Generate reads req.ReferenceFile.
func (referenceGenerator) Generate(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	if err := checkProvider("reference", req); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if req.ReferenceFile == "" {
		return Result{}, fmt.Errorf("reference: task %q has no reference file", req.Task)
	}
	name, err := HandlerFile(req.Handler)
	if err != nil {
		return Result{}, fmt.Errorf("reference: task %q: %w", req.Task, err)
	}
	code, err := os.ReadFile(req.ReferenceFile)
	if err != nil {
		return Result{}, fmt.Errorf("reference: task %q: %w", req.Task, err)
	}
	return Result{Files: map[string][]byte{name: code}, Latency: time.Since(start)}, nil
}

// filesGenerator reads code written elsewhere, for instance pasted from a
// chat UI, laid out under req.FilesDir as the package documentation says.
type filesGenerator struct{}

// Generate reads the code of req's task, variant and sample.
func (filesGenerator) Generate(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	if err := checkProvider("files", req); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if req.FilesDir == "" {
		return Result{}, fmt.Errorf("files: model %q has no files directory", req.Model)
	}
	if req.Task == "" || req.Variant == "" || req.Sample < 0 {
		return Result{}, fmt.Errorf("files: model %q: request needs a task, a variant and a sample ≥ 0", req.Model)
	}
	handler, err := HandlerFile(req.Handler)
	if err != nil {
		return Result{}, fmt.Errorf("files: task %q: %w", req.Task, err)
	}
	files, err := readFilesLayout(req, handler)
	if err != nil {
		return Result{}, fmt.Errorf("files: %w", err)
	}
	return Result{Files: files, Latency: time.Since(start)}, nil
}

// readFilesLayout finds and reads the code of req under req.FilesDir.
func readFilesLayout(req Request, handler string) (map[string][]byte, error) {
	variantDir := filepath.Join(req.FilesDir, req.Task, req.Variant)
	sampleDir := filepath.Join(variantDir, strconv.Itoa(req.Sample))
	if isDir(sampleDir) {
		return readCodeDir(sampleDir, handler)
	}
	if req.Sample != 0 {
		return nil, fmt.Errorf("no code for task %q variant %q sample %d: want directory %s",
			req.Task, req.Variant, req.Sample, sampleDir)
	}
	if isDir(variantDir) {
		if hasSampleDirs(variantDir) {
			return nil, fmt.Errorf("no code for task %q variant %q sample 0: %s has sample directories but no 0",
				req.Task, req.Variant, variantDir)
		}
		return readCodeDir(variantDir, handler)
	}
	single := variantDir + ".py"
	if fi, err := os.Lstat(single); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", single) // links are not followed
	}
	code, err := os.ReadFile(single)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no code for task %q variant %q: want %s, directory %s or directory %s",
			req.Task, req.Variant, single, variantDir, sampleDir)
	}
	if err != nil {
		return nil, err
	}
	return map[string][]byte{handler: code}, nil
}

// readCodeDir reads every file under dir, except hidden ones (whose names
// start with "."), keyed by slash-separated names relative to dir. The
// handler module must be among them.
func readCodeDir(dir, handler string) (map[string][]byte, error) {
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			// Links are not followed: code must not pull in files from
			// elsewhere on the runner (its credentials, say).
			return fmt.Errorf("%s is not a regular file", p)
		}
		code, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = code
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := files[handler]; !ok {
		return nil, fmt.Errorf("%s has no handler module %s", dir, handler)
	}
	return files, nil
}

// isDir reports whether p is a directory.
func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// hasSampleDirs reports whether dir holds a directory named by a number.
func hasSampleDirs(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			return true
		}
	}
	return false
}
