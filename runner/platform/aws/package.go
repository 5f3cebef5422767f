package aws

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/faaslab/faaslab/runner/harness"
)

// Lambda's limits on a zip uploaded with CreateFunction.
const (
	maxZipBytes      = 50 << 20
	maxUnzippedBytes = 250 << 20
)

// zipTime is every entry's modification time, so that the same code
// always gives the same zip and the same CodeSha256 (the earliest time a
// zip can hold).
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Package is a function's deployment package.
type Package struct {
	Zip []byte
	// CodeSha256 is what Lambda reports for the zip: base64 of its
	// SHA-256.
	CodeSha256 string
}

// Pack zips codeDir with the measurement wrapper at the top as
// harness.WrapperFile: entries in lexical order, each with the same time
// and mode, so that the same code gives the same bytes. Python caches
// (__pycache__) are left out. A file of the code named like the wrapper,
// anything but regular files and directories, and any of secrets in a
// file are errors.
func Pack(codeDir string, secrets []string) (Package, error) {
	type entry struct {
		name string
		data []byte
	}
	entries := []entry{{harness.WrapperFile, harness.Wrapper}}
	total := int64(len(harness.Wrapper))
	err := filepath.WalkDir(codeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(codeDir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case d.IsDir() && d.Name() == "__pycache__":
			return filepath.SkipDir
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file", rel)
		case rel == harness.WrapperFile:
			return fmt.Errorf("%s: the code has a file named like faaslab's wrapper", rel)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if total += int64(len(data)); total > maxUnzippedBytes {
			return fmt.Errorf("code exceeds Lambda's %d MB unzipped", maxUnzippedBytes>>20)
		}
		for _, s := range secrets {
			if s != "" && bytes.Contains(data, []byte(s)) {
				return fmt.Errorf("%s: holds one of the runner's AWS credentials; refusing to upload it", rel)
			}
		}
		entries = append(entries, entry{rel, data})
		return nil
	})
	if err != nil {
		return Package{}, fmt.Errorf("package %s: %w", codeDir, err)
	}
	// WalkDir is lexical per directory; sort the whole list by name so
	// the wrapper's place does not depend on the code's names.
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: zipTime}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err == nil {
			_, err = w.Write(e.data)
		}
		if err != nil {
			return Package{}, fmt.Errorf("package %s: %w", codeDir, err)
		}
	}
	if err := zw.Close(); err != nil {
		return Package{}, fmt.Errorf("package %s: %w", codeDir, err)
	}
	if buf.Len() > maxZipBytes {
		return Package{}, fmt.Errorf("package %s: zip of %d MB exceeds Lambda's %d MB", codeDir, buf.Len()>>20, maxZipBytes>>20)
	}
	sum := sha256.Sum256(buf.Bytes())
	return Package{Zip: buf.Bytes(), CodeSha256: base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// containsSecret reports whether s holds one of secrets.
func containsSecret(s string, secrets []string) bool {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			return true
		}
	}
	return false
}
