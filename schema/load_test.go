package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeStudy writes a minimal valid study whose matrix ends with extra,
// with the files it names, and returns its path.
func writeStudy(t *testing.T, matrixExtra, taskExtra string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"p.md", "ref.py"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := `name: "t"
models: reference: provider: "reference"
tasks: sq: {
	variants: long: prompt: "p.md"
	reference: "ref.py"
	tests: [{name: "a", event: {n: 2}}]
	benchmark: event: {n: 3}
` + taskExtra + `
}
platforms: local: kind: "local"
matrix: {
	memory_mb: [512, 1024]
	arch: ["x86_64"]
	repetitions: 10
` + matrixExtra + `
}
budget: usd: 1
`
	path := filepath.Join(dir, "study.cue")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIncludeTakesRepetitionsAndWarmup(t *testing.T) {
	s, err := Load(writeStudy(t, `include: [{memory_mb: 1024, repetitions: 20, warmup: 0}, {memory_mb: 2048}]`, ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := s.Matrix.Include
	if len(in) != 2 || in[0].Repetitions == nil || *in[0].Repetitions != 20 || in[0].Warmup == nil || *in[0].Warmup != 0 ||
		in[1].Repetitions != nil || in[1].Warmup != nil {
		t.Errorf("include decoded as %+v", in)
	}
}

func TestIncludeAndExcludeErrors(t *testing.T) {
	tests := []struct {
		matrix string
		want   string
	}{
		{`include: [{memory_mb: 1024, repetitions: 0}]`, "study.cue:15:42: matrix.include[0].repetitions: invalid value 0 (out of bound >=1)"},
		{`include: [{memory_mb: 1024, warmup: -1}]`, "study.cue:15:37: matrix.include[0].warmup: invalid value -1 (out of bound >=0)"},
		{`include: [{memory_mb: 1024, repetitons: 5}]`, "study.cue:15:29: matrix.include[0].repetitons: field not allowed"},
		// An exclude drops cells; overriding their repetitions means nothing.
		{`exclude: [{memory_mb: 1024, repetitions: 5}]`, "study.cue:15:29: matrix.exclude[0].repetitions: field not allowed"},
	}
	for _, tt := range tests {
		path := writeStudy(t, tt.matrix, "")
		_, err := Load(path, Options{Cwd: filepath.Dir(path)})
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.matrix, err, tt.want)
		}
	}
}

// withModel replaces the models of the study at path by models.m: model.
func withModel(t *testing.T, path, model string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), `models: reference: provider: "reference"`, "models: m: "+model, 1)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReasoningModels(t *testing.T) {
	path := writeStudy(t, "", "")
	withModel(t, path, `{provider: "openai", model: "o3-mini", reasoning: true, stream: false, params: {max_completion_tokens: 8192, reasoning_effort: "high", seed: 1}}`)
	s, err := Load(path, Options{Cwd: filepath.Dir(path)})
	if err != nil {
		t.Fatal(err)
	}
	m := s.Models["m"]
	if !m.Reasoning || m.Streams() || m.Params.MaxCompletionTokens == nil || *m.Params.MaxCompletionTokens != 8192 || m.Params.ReasoningEffort != "high" {
		t.Errorf("model decoded as %+v", m)
	}

	tests := []struct {
		model string
		want  string // the error's start; "" for none
	}{
		{`{provider: "openai", model: "gpt-4o"}`, ""},
		{`{provider: "openai", model: "o3", reasoning: true, params: temperature: 0.2}`, "study.cue:2:71: models.m.params.temperature: a reasoning model (reasoning: true) takes no temperature"},
		{`{provider: "openai", model: "o3", reasoning: true, params: top_p: 0.5}`, "study.cue:2:71: models.m.params.top_p: a reasoning model (reasoning: true) takes no top_p"},
		{`{provider: "openai", model: "o3", reasoning: true, params: reasoning_effort: "max"}`, "study.cue:2:89: models.m.params.reasoning_effort: \"max\" is not allowed"},
		{`{provider: "openai", model: "o3", params: max_completion_tokens: 0}`, "study.cue:2:"},
		{`{provider: "openai", model: "gpt-4o", stream: "yes"}`, "study.cue:2:"},
	}
	for _, tt := range tests {
		path := writeStudy(t, "", "")
		withModel(t, path, tt.model)
		s, err := Load(path, Options{Cwd: filepath.Dir(path)})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.model, err)
		case tt.want == "" && !s.Models["m"].Streams():
			t.Errorf("%s: does not stream by default", tt.model)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one starting %q", tt.model, err, tt.want)
		}
	}
}

func TestLimitsAndGeneration(t *testing.T) {
	path := writeStudy(t, "", "")
	b, _ := os.ReadFile(path)
	src := strings.Replace(string(b), `models: reference: provider: "reference"`,
		`models: {
	reference: provider: "reference"
	gpt: {provider: "openai", model: "gpt-4o", limits: {rpm: 500, concurrency: 8}}
}
rate_limits: openai: {rpm: 1000, tpm: 200000}
generation: {retries: 2, max_backoff_s: 7.5}`, 1)
	os.WriteFile(path, []byte(src), 0o644)
	s, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Models["gpt"].Limits; l == nil || *l != (Limits{RPM: 500, Concurrency: 8}) {
		t.Errorf("models.gpt.limits = %+v", l)
	}
	if l := s.RateLimits["openai"]; l != (Limits{RPM: 1000, TPM: 200000}) {
		t.Errorf("rate_limits.openai = %+v", l)
	}
	if g := s.Generation; *g.Retries != 2 || *g.MaxBackoffS != 7.5 {
		t.Errorf("generation = %d, %v", *g.Retries, *g.MaxBackoffS)
	}

	s, err = Load(writeStudy(t, "", ""), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := s.Generation; g.Retries == nil || *g.Retries != DefaultRetries || g.MaxBackoffS == nil || *g.MaxBackoffS != DefaultMaxBackoffS {
		t.Errorf("default generation = %+v", g)
	}
	if s.Models["reference"].Limits != nil {
		t.Error("a model without limits has some")
	}
}

func TestLimitsErrors(t *testing.T) {
	tests := []struct {
		top  string
		want string
	}{
		{`rate_limits: opnai: rpm: 10`, `study.cue:18:14: rate_limits.opnai: no model of the study uses provider "opnai" (providers used: [reference])`},
		{`rate_limits: reference: rpm: 0`, "study.cue:18:30: rate_limits.reference.rpm: invalid value 0 (out of bound >0)"},
		{`rate_limits: reference: concurrency: 1.5`, "study.cue:18:38: rate_limits.reference.concurrency: conflicting values 1.5 and int (mismatched types float and int)"},
		{`rate_limits: reference: rps: 3`, "study.cue:18:25: rate_limits.reference.rps: field not allowed"},
		{`generation: retries: -1`, "study.cue:18:22: generation.retries: invalid value -1 (out of bound >=0)"},
		{`generation: max_backoff_s: 0`, "study.cue:18:28: generation.max_backoff_s: invalid value 0 (out of bound >0)"},
	}
	for _, tt := range tests {
		path := writeStudy(t, "", "")
		b, _ := os.ReadFile(path)
		os.WriteFile(path, append(b, tt.top+"\n"...), 0o644)
		_, err := Load(path, Options{Cwd: filepath.Dir(path)})
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.top, err, tt.want)
		}
	}
}
