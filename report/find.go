package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ErrNoTables says a results path holds no exported Parquet tables.
var ErrNoTables = errors.New("no tables")

// marker is the table whose Parquet file makes a directory a tables
// directory: every export writes it, even when empty.
const marker = "cells.parquet"

// FindTables returns the tables directories under each path, in order and
// without duplicates. A path may be a tables directory itself, a run
// directory (holding tables/), a study's directory of runs (STUDY/RUN/
// tables) or a results directory of studies (OUT/STUDY/RUN/tables): the
// search goes at most three levels down. Relative paths are taken from
// base, and the directories returned keep them relative. A path that does
// not exist or holds no tables is an error naming it as given.
func FindTables(base string, paths []string) ([]string, error) {
	var dirs []string
	for _, p := range paths {
		abs := p
		if !filepath.IsAbs(p) {
			abs = filepath.Join(base, p)
		}
		info, err := os.Stat(abs)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("results %s: no such directory", p)
		}
		if err != nil {
			return nil, fmt.Errorf("results %s: %w", p, err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("results %s: not a directory (give a run directory or its tables directory)", p)
		}
		found := findUnder(abs, 3)
		if len(found) == 0 {
			return nil, fmt.Errorf("results %s: no Parquet tables in it (looked for %s in it, in its tables/ and up to three levels down; run `faaslab export` first): %w",
				p, marker, ErrNoTables)
		}
		for _, d := range found {
			if rel, err := filepath.Rel(abs, d); err == nil {
				d = filepath.Join(p, rel)
			}
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs, nil
}

// findUnder lists the tables directories at dir or below it, depth levels
// at most, in lexical order. Hidden directories (a run's temporary
// .tables-* while it exports) are skipped.
func findUnder(dir string, depth int) []string {
	if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
		return []string{filepath.Clean(dir)}
	}
	if t := filepath.Join(dir, "tables"); isFile(filepath.Join(t, marker)) {
		return []string{filepath.Clean(t)}
	}
	if depth == 0 {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && e.Name()[0] != '.' {
			out = append(out, findUnder(filepath.Join(dir, e.Name()), depth-1)...)
		}
	}
	return out
}

func isFile(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}
