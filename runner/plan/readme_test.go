package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue/cuecontext"

	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// readmeStudy returns the study of README.md's "The study file" section:
// its fenced cue blocks, joined.
func readmeStudy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## The study file\n")
	if !ok {
		t.Fatal(`README.md has no "## The study file" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var study strings.Builder
	in := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```cue":
			in = true
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in:
			study.WriteString(line + "\n")
		}
	}
	if study.Len() == 0 {
		t.Fatal(`README.md's "The study file" section has no cue block`)
	}
	return study.String()
}

// writeNamedFiles makes a small placeholder of every file and directory the
// study src names (system prompt, prompts, references, inputs, the
// directories of "files" models) under dir.
func writeNamedFiles(t *testing.T, dir, src string) {
	t.Helper()
	v := cuecontext.New().CompileString(src)
	var s schema.Study
	if err := v.Decode(&s); err != nil {
		t.Fatalf("README's study does not evaluate on its own: %v", err)
	}
	var files []string
	if s.SystemPromptFile != "" {
		files = append(files, s.SystemPromptFile)
	}
	for _, task := range s.Tasks {
		for _, variant := range task.Variants {
			files = append(files, variant.Prompt)
		}
		files = append(files, task.Reference)
		files = append(files, task.Inputs...)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("placeholder for "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range s.Models {
		if m.Dir != "" {
			if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(m.Dir)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestREADMEStudy plans the study README.md shows as written, for the
// local platform and, with -t platform=aws, for Lambda, so that the
// reference documentation cannot drift from what faaslab accepts.
func TestREADMEStudy(t *testing.T) {
	src := readmeStudy(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "study.cue")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	writeNamedFiles(t, dir, src)

	hostArch := platform.HostArch()
	if hostArch != "x86_64" {
		// The example's local cells are x86_64, which this host cannot run.
		t.Logf("host runs %s: planning without the local architecture check", hostArch)
		hostArch = ""
	}
	for _, tags := range [][]string{nil, {"platform=aws"}} {
		t.Run(strings.Join(append([]string{"tags"}, tags...), " "), func(t *testing.T) {
			s, err := schema.Load(path, schema.Options{Tags: tags, HostArch: hostArch})
			if err != nil {
				t.Fatalf("README's study is refused:\n%v", err)
			}
			p, err := plan.New(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Cells) == 0 || p.Invocations() == 0 {
				t.Fatal("README's study plans nothing")
			}
			if e := p.Estimate(); e.OverBudget() > 0 {
				t.Errorf("README's study is over its budget by $%.2f", e.OverBudget())
			}
			// What the example's include and exclude say they do.
			overridden := 0
			for _, c := range p.Cells {
				if c.Model == "reference" && c.Variant == "nolib_short" {
					t.Errorf("cell %s/%s survives the exclude", c.Model, c.Variant)
				}
				if c.Model == "gpt-4o" && c.MemoryMB == 10240 {
					overridden++
					if c.Repetitions != 20 {
						t.Errorf("included gpt-4o cell at 10240 MB has %d repetitions, want the include's 20", c.Repetitions)
					}
				}
			}
			if overridden == 0 {
				t.Error("the include added no gpt-4o cell at 10240 MB")
			}
		})
	}
}
