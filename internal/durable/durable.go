// Package durable writes files that a crash leaves whole or not at all:
// results, caches and artifacts that a resumed run trusts.
package durable

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes what write produces to a temporary file beside path,
// syncs it, renames it over path and syncs the directory. When write or any
// step before the rename fails, path is untouched and no temporary file
// remains; when only the final directory sync fails, path already holds the
// new content, which a crash may still undo.
func WriteFile(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close() // the first error matters; this one only frees the descriptor
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir, such as a rename into it, durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
