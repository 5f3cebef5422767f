package schema

import (
	"io/fs"
	"path/filepath"
	"sort"
)

// Files lists, sorted and without repeats, the absolute path of every file
// a run of the study reads besides the study file itself: the system
// prompt, every variant's prompt, references, inputs (a pipeline's stages' too), and every regular
// file under the directory of a "files" model. Dirs lists those model
// directories, whose contents (not only the files found now) belong to
// the study.
func (s *Study) Files() (files, dirs []string, err error) {
	add := func(rel string) { files = append(files, s.Path(rel)) }
	if s.SystemPromptFile != "" {
		add(s.SystemPromptFile)
	}
	for _, t := range s.Tasks {
		for _, v := range t.Variants {
			add(v.Prompt)
		}
		if t.Reference != "" {
			add(t.Reference)
		}
		for _, in := range t.Inputs {
			add(in)
		}
		if t.Input != "" {
			add(t.Input)
		}
		for _, st := range t.Stages {
			for _, v := range st.Variants {
				add(v.Prompt)
			}
			add(st.Reference)
			for _, tt := range st.Tests {
				add(tt.Input)
			}
		}
	}
	for _, m := range s.Models {
		if m.Dir == "" {
			continue
		}
		dir := s.Path(m.Dir)
		dirs = append(dirs, dir)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return dedupe(files), dedupe(dirs), nil
}

func dedupe(paths []string) []string {
	sort.Strings(paths)
	out := paths[:0]
	for i, p := range paths {
		if i == 0 || p != paths[i-1] {
			out = append(out, p)
		}
	}
	return out
}
