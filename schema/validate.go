package schema

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// validate checks what CUE cannot see: files on disk, names that refer to
// other parts of the study, and what the host can run. It fills defaults
// that depend on other fields (matrix.platforms).
func validate(s *Study, opts Options) Errors {
	v := validator{s: s}
	if s.SystemPrompt != "" && s.SystemPromptFile != "" {
		v.fail("system_prompt_file", "give system_prompt or system_prompt_file, not both")
	}
	if s.SystemPromptFile != "" {
		v.file("system_prompt_file", s.SystemPromptFile)
	}
	v.nonEmpty("models", len(s.Models))
	v.nonEmpty("tasks", len(s.Tasks))
	v.nonEmpty("platforms", len(s.Platforms))
	for _, id := range SortedKeys(s.Models) {
		m := s.Models[id]
		if m.Provider == "files" {
			v.dir("models."+id+".dir", m.Dir)
		}
		if m.Reasoning {
			// Reasoning models refuse sampling parameters; sending them
			// would fail every request, and dropping them silently would
			// record parameters that were never used.
			if m.Params.Temperature != nil {
				v.fail("models."+id+".params.temperature", "a reasoning model (reasoning: true) takes no temperature: remove it")
			}
			if m.Params.TopP != nil {
				v.fail("models."+id+".params.top_p", "a reasoning model (reasoning: true) takes no top_p: remove it")
			}
		}
	}
	v.rateLimits()
	for _, name := range SortedKeys(s.Platforms) {
		if pl := s.Platforms[name]; pl.InitTimeoutS != nil && pl.Kind != "local" {
			v.fail("platforms."+name+".init_timeout_s", "Lambda's init limit is Lambda's: init_timeout_s is for local platforms only")
		}
	}
	if p := s.Checks.Platform; p != "" {
		if _, ok := s.Platforms[p]; !ok {
			v.fail("checks.platform", fmt.Sprintf("no platform named %q (have %v)", p, SortedKeys(s.Platforms)))
		}
	}
	for _, id := range SortedKeys(s.Tasks) {
		t := s.Tasks[id]
		at := "tasks." + id
		if t.Stages != nil {
			v.pipeline(at, t)
			continue
		}
		v.nonEmpty(at+".variants", len(t.Variants))
		for _, vn := range SortedKeys(t.Variants) {
			v.file(at+".variants."+vn+".prompt", t.Variants[vn].Prompt)
		}
		if t.Reference == "" {
			v.fail(at+".reference", "a task needs a reference implementation (or stages, to be a pipeline)")
		} else {
			v.file(at+".reference", t.Reference)
		}
		if t.Benchmark.Event == nil {
			v.fail(at+".benchmark", "a task needs a benchmark event (or stages, to be a pipeline)")
		}
		for i, in := range t.Inputs {
			v.file(fmt.Sprintf("%s.inputs[%d]", at, i), in)
		}
		seen := map[string]bool{}
		for i, test := range t.Tests {
			if seen[test.Name] {
				v.fail(fmt.Sprintf("%s.tests[%d].name", at, i), fmt.Sprintf("duplicate test name %q", test.Name))
			}
			seen[test.Name] = true
		}
		if t.Mixes != nil {
			v.fail(at+".mixes", "mixes belong to a pipeline task (one with stages): a single function's code comes from one model")
		}
		for _, f := range []struct {
			name string
			set  bool
		}{{"input", t.Input != ""}, {"compare", t.Compare != nil}, {"workload", t.Workload != nil}, {"expected_ms", t.ExpectedMS != nil}} {
			if f.set {
				v.fail(at+"."+f.name, f.name+" belongs to a pipeline task (one with stages); a single function's is under benchmark")
			}
		}
	}

	m := &s.Matrix
	v.nonEmpty("matrix.memory_mb", len(m.MemoryMB))
	v.nonEmpty("matrix.arch", len(m.Arch))
	v.unique("matrix.memory_mb", m.MemoryMB)
	v.unique("matrix.arch", m.Arch)
	if m.Platforms == nil {
		m.Platforms = SortedKeys(s.Platforms)
	} else {
		v.nonEmpty("matrix.platforms", len(m.Platforms))
		v.unique("matrix.platforms", m.Platforms)
		for i, p := range m.Platforms {
			if _, ok := s.Platforms[p]; !ok {
				v.fail(fmt.Sprintf("matrix.platforms[%d]", i), fmt.Sprintf("no platform named %q (have %v)", p, SortedKeys(s.Platforms)))
			}
		}
	}
	if opts.HostArch != "" {
		for _, p := range m.Platforms {
			if s.Platforms[p].Kind != "local" {
				continue
			}
			for i, a := range m.Arch {
				if a != opts.HostArch {
					v.fail(fmt.Sprintf("matrix.arch[%d]", i), fmt.Sprintf("platform %q is local and this host runs %s, not %s: drop %s or use an aws platform for it", p, opts.HostArch, a, a))
				}
			}
		}
	}
	for i, in := range m.Include {
		if opts.HostArch == "" || in.Arch == nil || *in.Arch == opts.HostArch {
			continue
		}
		pls := m.Platforms
		if in.Platform != nil {
			pls = []string{*in.Platform}
		}
		for _, p := range pls {
			if s.Platforms[p].Kind == "local" {
				v.fail(fmt.Sprintf("matrix.include[%d].arch", i), fmt.Sprintf("adds %s cells on local platform %q, and this host runs %s", *in.Arch, p, opts.HostArch))
				break
			}
		}
	}
	for i, p := range m.Exclude {
		v.pattern(fmt.Sprintf("matrix.exclude[%d]", i), p)
	}
	for i, p := range m.Include {
		v.pattern(fmt.Sprintf("matrix.include[%d]", i), p)
	}
	sortErrors(v.errs)
	return v.errs
}

// pipeline checks a pipeline task: its stages, each a function with its
// own prompts and reference, the same variant names in every stage (a
// pipeline cell takes one variant for all), and its input object. What a
// single function has at the task's level belongs to the stages here.
func (v *validator) pipeline(at string, t Task) {
	if len(t.Stages) == 0 {
		v.fail(at+".stages", "a pipeline needs at least one stage")
		return
	}
	if t.Variants != nil {
		v.fail(at+".variants", "a pipeline's prompts are its stages': move variants into each of stages")
	}
	if t.Reference != "" {
		v.fail(at+".reference", "a pipeline's references are its stages': give each of stages a reference")
	}
	if len(t.Tests) > 0 {
		v.fail(at+".tests", "a pipeline is checked stage by stage on its input and end to end: give stages[].tests objects to check a stage on")
	}
	if t.Benchmark.Event != nil {
		v.fail(at+".benchmark", "a pipeline run is triggered by uploading input: remove benchmark")
	}
	if t.Input == "" {
		v.fail(at+".input", "a pipeline needs an input object to upload (a file relative to the study)")
	} else {
		v.file(at+".input", t.Input)
	}
	for i, in := range t.Inputs {
		v.file(fmt.Sprintf("%s.inputs[%d]", at, i), in)
	}
	v.mixes(at, t)
	names := map[string]bool{}
	want := SortedKeys(t.Stages[0].Variants)
	for i, st := range t.Stages {
		sat := fmt.Sprintf("%s.stages[%d]", at, i)
		if names[st.Name] {
			v.fail(sat+".name", fmt.Sprintf("duplicate stage name %q", st.Name))
		}
		names[st.Name] = true
		v.nonEmpty(sat+".variants", len(st.Variants))
		for _, vn := range SortedKeys(st.Variants) {
			v.file(sat+".variants."+vn+".prompt", st.Variants[vn].Prompt)
		}
		if have := SortedKeys(st.Variants); i > 0 && strings.Join(have, ",") != strings.Join(want, ",") {
			v.fail(sat+".variants", fmt.Sprintf("stage %q has variants %v, stage %q has %v: every stage needs the same variant names, since a pipeline cell takes one variant for all its stages",
				st.Name, have, t.Stages[0].Name, want))
		}
		v.file(sat+".reference", st.Reference)
		tests := map[string]bool{}
		for j, tt := range st.Tests {
			if tests[tt.Name] {
				v.fail(fmt.Sprintf("%s.tests[%d].name", sat, j), fmt.Sprintf("duplicate test name %q", tt.Name))
			}
			tests[tt.Name] = true
			v.file(fmt.Sprintf("%s.tests[%d].input", sat, j), tt.Input)
		}
	}
}

// mixes checks a pipeline's mixes: each names a model of the study for
// every stage and for nothing else, and no mix has a model's name (the
// model column could not tell them apart).
func (v *validator) mixes(at string, t Task) {
	stages := map[string]bool{}
	var names []string
	for _, st := range t.Stages {
		stages[st.Name] = true
		names = append(names, st.Name)
	}
	for _, mix := range SortedKeys(t.Mixes) {
		mat := at + ".mixes." + mix
		if _, ok := v.s.Models[mix]; ok {
			v.fail(mat, fmt.Sprintf("mix %q has the name of a model: name it apart, since the tables' model column holds either", mix))
		}
		m := t.Mixes[mix]
		for _, stage := range SortedKeys(m) {
			if !stages[stage] {
				v.fail(mat+"."+stage, fmt.Sprintf("no stage named %q (stages: %v)", stage, names))
				continue
			}
			if _, ok := v.s.Models[m[stage]]; !ok {
				v.fail(mat+"."+stage, fmt.Sprintf("no model named %q (models: %v)", m[stage], SortedKeys(v.s.Models)))
			}
		}
		for _, stage := range names {
			if _, ok := m[stage]; !ok {
				v.fail(mat, fmt.Sprintf("mix %q names no model for stage %q: a mix names one for every stage", mix, stage))
			}
		}
	}
}

// rateLimits checks that each provider given rate limits serves a model
// of the study (a misspelt provider would silently limit nothing), and
// fills the generation defaults.
func (v *validator) rateLimits() {
	s := v.s
	used := map[string]bool{}
	for _, m := range s.Models {
		used[m.Provider] = true
	}
	for _, p := range SortedKeys(s.RateLimits) {
		if !used[p] {
			v.fail("rate_limits."+p, fmt.Sprintf("no model of the study uses provider %q (providers used: %v)", p, SortedKeys(used)))
		}
	}
	if s.Generation.Retries == nil {
		n := DefaultRetries
		s.Generation.Retries = &n
	}
	if s.Generation.MaxBackoffS == nil {
		d := DefaultMaxBackoffS
		s.Generation.MaxBackoffS = &d
	}
}

type validator struct {
	s    *Study
	errs Errors
}

func (v *validator) fail(path, msg string) {
	v.errs = append(v.errs, v.s.Error(path, msg))
}

func parent(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '.' || path[i] == '[' {
			return path[:i]
		}
	}
	return ""
}

func (v *validator) nonEmpty(path string, n int) {
	if n == 0 {
		v.fail(path, "must not be empty")
	}
}

// inside reports whether rel stays in the study's directory: relative,
// without "..", and not leading out through a link. Every file a study
// names is read into prompts sent to model APIs or into functions (inputs
// are copied to the same relative path), so a study passed around must not
// reach the runner's other files, such as its credentials.
func (v *validator) inside(path, rel string) bool {
	if !fs.ValidPath(filepath.ToSlash(rel)) {
		v.fail(path, fmt.Sprintf("%q must be a relative path below the study's directory, without ..", rel))
		return false
	}
	real, err := filepath.EvalSymlinks(v.s.Path(rel))
	if err != nil {
		return true // missing: said by the caller
	}
	base, err := filepath.EvalSymlinks(v.s.Source.Dir)
	if r, rerr := filepath.Rel(base, real); err != nil || rerr != nil || r == ".." || strings.HasPrefix(r, "../") {
		v.fail(path, fmt.Sprintf("%s leads out of the study's directory through a link", rel))
		return false
	}
	return true
}

func (v *validator) file(path, rel string) {
	if !v.inside(path, rel) {
		return
	}
	st, err := os.Stat(v.s.Path(rel))
	switch {
	case err != nil:
		v.fail(path, fmt.Sprintf("file %s does not exist", rel))
	case st.IsDir():
		v.fail(path, fmt.Sprintf("%s is a directory, want a file", rel))
	}
}

func (v *validator) dir(path, rel string) {
	if !v.inside(path, rel) {
		return
	}
	st, err := os.Stat(v.s.Path(rel))
	switch {
	case err != nil:
		v.fail(path, fmt.Sprintf("directory %s does not exist", rel))
	case !st.IsDir():
		v.fail(path, fmt.Sprintf("%s is not a directory", rel))
	}
}

func unique[T comparable](v *validator, path string, xs []T) {
	seen := map[T]bool{}
	for i, x := range xs {
		if seen[x] {
			v.fail(fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("duplicate value %v", x))
		}
		seen[x] = true
	}
}

func (v *validator) unique(path string, xs any) {
	switch xs := xs.(type) {
	case []int:
		unique(v, path, xs)
	case []string:
		unique(v, path, xs)
	}
}

// pattern checks that an include or exclude names only things that exist.
func (v *validator) pattern(at string, p Pattern) {
	s := v.s
	if p.Model != nil {
		if _, ok := s.Models[*p.Model]; !ok && !v.isMix(p.Task, *p.Model) {
			what := "model"
			if v.hasMixes() {
				what = "model or mix"
			}
			v.fail(at+".model", fmt.Sprintf("no %s named %q", what, *p.Model))
		}
	}
	if p.Task != nil {
		if _, ok := s.Tasks[*p.Task]; !ok {
			v.fail(at+".task", fmt.Sprintf("no task named %q", *p.Task))
		}
	}
	if p.Variant != nil && !v.hasVariant(p.Task, *p.Variant) {
		v.fail(at+".variant", fmt.Sprintf("no task has a variant named %q", *p.Variant))
	}
	if p.Platform != nil {
		if _, ok := s.Platforms[*p.Platform]; !ok {
			v.fail(at+".platform", fmt.Sprintf("no platform named %q", *p.Platform))
		}
	}
	if p.Sample != nil && *p.Sample >= s.Matrix.Samples {
		v.fail(at+".sample", fmt.Sprintf("sample %d is out of range: matrix.samples is %d (samples count from 0)", *p.Sample, s.Matrix.Samples))
	}
	if p.Model == nil && p.Task == nil && p.Variant == nil && p.Sample == nil && p.Platform == nil && p.Arch == nil && p.MemoryMB == nil {
		v.fail(at, "names no dimension: give at least one of model, task, variant, sample, platform, arch, memory_mb")
	}
}

// isMix reports whether a pipeline task (task, or any when nil) has a
// mix named name.
func (v *validator) isMix(task *string, name string) bool {
	for id, t := range v.s.Tasks {
		if task != nil && *task != id {
			continue
		}
		if _, ok := t.Mixes[name]; ok {
			return true
		}
	}
	return false
}

// hasMixes says whether any task names mixes, so that an unknown model's
// error mentions mixes only where the study has some.
func (v *validator) hasMixes() bool {
	for _, t := range v.s.Tasks {
		if len(t.Mixes) > 0 {
			return true
		}
	}
	return false
}

func (v *validator) hasVariant(task *string, variant string) bool {
	for id, t := range v.s.Tasks {
		if task != nil && *task != id {
			continue
		}
		if t.HasVariant(variant) {
			return true
		}
	}
	return false
}

// Path resolves a path written in the study relative to the study's
// directory.
func (s *Study) Path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(s.Source.Dir, rel)
}

// SortedKeys returns m's keys in order: every iteration over a study's maps
// goes through it so plans and outputs are deterministic.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
