package schema

import "encoding/json"

// Study is a loaded, validated study file. The fields mirror #Study in
// study.cue; Load fills defaults, so every field is concrete.
type Study struct {
	Name             string              `json:"name"`
	Description      string              `json:"description,omitempty"`
	Seed             int                 `json:"seed"`
	SystemPrompt     string              `json:"system_prompt,omitempty"`
	SystemPromptFile string              `json:"system_prompt_file,omitempty"`
	Models           map[string]Model    `json:"models"`
	Tasks            map[string]Task     `json:"tasks"`
	Platforms        map[string]Platform `json:"platforms"`
	Matrix           Matrix              `json:"matrix"`
	Budget           Budget              `json:"budget"`
	// RateLimits bound each provider across all its models.
	RateLimits map[string]Limits `json:"rate_limits,omitempty"`
	// Generation says how failed API calls are retried.
	Generation Generation `json:"generation"`
	// Checks says where checks run their functions.
	Checks Checks `json:"checks"`
	// Prices is the study's prices field as JSON (#Prices), nil when it
	// has none: runner/pricing merges it over faaslab's dated table.
	Prices json.RawMessage `json:"-"`

	// Source is what Load read: the study file, its directory (the base of
	// every relative path), its bytes' hash and the tags applied.
	Source Source `json:"-"`
	// positions maps field paths ("tasks.x.reference") to file:line:col.
	positions map[string]string
}

// Source says where a Study came from.
type Source struct {
	File   string // as given to Load
	Dir    string // absolute directory of File
	SHA256 string // of the study file, its tags and every file it refers to
	Tags   []string
}

// Model is one code generator: an LLM behind an API, hand-written files, or
// the task's reference implementation.
type Model struct {
	Provider      string  `json:"provider"`
	Model         string  `json:"model,omitempty"`
	Version       string  `json:"version,omitempty"`
	BaseURL       string  `json:"base_url,omitempty"`
	APIKeyEnv     string  `json:"api_key_env,omitempty"`
	Class         string  `json:"class,omitempty"`
	Hosting       string  `json:"hosting,omitempty"`
	Style         string  `json:"style,omitempty"`
	SizeB         float64 `json:"size_b,omitempty"`
	ContextWindow int     `json:"context_window,omitempty"`
	// Vendor, ReleaseDate and Updated are descriptive: who made the model,
	// when it was released and last updated (YYYY-MM-DD).
	Vendor      string  `json:"vendor,omitempty"`
	ReleaseDate string  `json:"release_date,omitempty"`
	Updated     string  `json:"updated,omitempty"`
	Params      Params  `json:"params"`
	Price       *Price  `json:"price,omitempty"`
	Dir         string  `json:"dir,omitempty"`
	Limits      *Limits `json:"limits,omitempty"`
	// Stream is the study's stream setting; nil means true (see Streams).
	Stream *bool `json:"stream,omitempty"`
	// Reasoning marks a reasoning model: no temperature or top_p, and the
	// token limit sent as max_completion_tokens.
	Reasoning bool `json:"reasoning,omitempty"`
}

// Streams reports whether the model's answers are asked for as a stream:
// unless the study says stream: false.
func (m Model) Streams() bool { return m.Stream == nil || *m.Stream }

// CallsAPI reports whether the model is an API that costs tokens, rather
// than code read from disk (the "reference" and "files" providers).
func (m Model) CallsAPI() bool { return m.Provider != "reference" && m.Provider != "files" }

// Params are the generation parameters sent to the model API.
type Params struct {
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	Seed        *int     `json:"seed,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	// MaxCompletionTokens and ReasoningEffort are a reasoning model's:
	// its output limit, thinking included, and "minimal", "low",
	// "medium" or "high".
	MaxCompletionTokens *int   `json:"max_completion_tokens,omitempty"`
	ReasoningEffort     string `json:"reasoning_effort,omitempty"`
}

// Price is a model's token price in USD per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok"`
}

// Task is one function to write: its prompt variants, its reference
// implementation, the tests that decide correctness and the benchmark input.
type Task struct {
	Runtime   string             `json:"runtime"`
	Handler   string             `json:"handler"`
	Variants  map[string]Variant `json:"variants,omitempty"`
	Reference string             `json:"reference,omitempty"`
	Tests     []Test             `json:"tests"`
	Benchmark Benchmark          `json:"benchmark"`
	Packages  []string           `json:"packages"`
	Inputs    []string           `json:"inputs"`
	TimeoutS  int                `json:"timeout_s"`
	// EphemeralMB sizes /tmp; nil leaves it to the platform.
	EphemeralMB *int `json:"ephemeral_mb,omitempty"`

	// Stages make the task a pipeline (IsPipeline); Input, Compare,
	// Workload and ExpectedMS are a pipeline's.
	Stages []Stage `json:"stages,omitempty"`
	// Mixes name pipelines whose stages' code comes from different
	// models: mix name → stage name → model id. Plan measures each like
	// a model.
	Mixes      map[string]map[string]string `json:"mixes,omitempty"`
	Input      string                       `json:"input,omitempty"`
	Compare    *ObjectCompare               `json:"compare,omitempty"`
	Workload   *Workload                    `json:"workload,omitempty"`
	ExpectedMS *float64                     `json:"expected_ms,omitempty"`
}

// IsPipeline reports whether the task is a pipeline of stages rather than
// one function.
func (t Task) IsPipeline() bool { return len(t.Stages) > 0 }

// VariantNames are the task's prompt variants in order: a pipeline's are
// its stages' (every stage has the same names).
func (t Task) VariantNames() []string {
	if t.IsPipeline() {
		return SortedKeys(t.Stages[0].Variants)
	}
	return SortedKeys(t.Variants)
}

// HasVariant reports whether the task has a prompt variant named name.
func (t Task) HasVariant(name string) bool {
	if t.IsPipeline() {
		_, ok := t.Stages[0].Variants[name]
		return ok
	}
	_, ok := t.Variants[name]
	return ok
}

// StageModel is the model whose code stage i of pipeline t has in the
// cells of model (a model's id, or the name of one of t's mixes).
func (t Task) StageModel(model string, i int) string {
	if mix, ok := t.Mixes[model]; ok {
		return mix[t.Stages[i].Name]
	}
	return model
}

// StageTask is stage i of pipeline t as a function of its own: the
// task's runtime, packages, timeout and /tmp unless the stage says
// otherwise.
func (t Task) StageTask(i int) Task {
	st := t.Stages[i]
	out := Task{Runtime: t.Runtime, Handler: st.Handler, Variants: st.Variants, Reference: st.Reference,
		Packages: t.Packages, Inputs: nil, TimeoutS: t.TimeoutS, EphemeralMB: t.EphemeralMB}
	if st.Packages != nil {
		out.Packages = st.Packages
	}
	if st.TimeoutS != nil {
		out.TimeoutS = *st.TimeoutS
	}
	return out
}

// Workload is the number of units (images, records) a study prices a
// pipeline for: one pipeline run per unit.
type Workload struct {
	Count int64  `json:"count"`
	Unit  string `json:"unit"`
	// RetentionH is how long a run's objects are kept, for storage prices.
	RetentionH float64 `json:"retention_h"`
}

// ObjectCompare says how two objects are compared: "image" (decoded,
// Metric against Threshold) or "bytes".
type ObjectCompare struct {
	Rule      string   `json:"rule"`
	Metric    string   `json:"metric"`
	Threshold *float64 `json:"threshold,omitempty"`
}

// EphemeralMB is the size of /tmp, in MB, of task's functions on platform:
// the task's, else the platform's, else 0 (the platform's default).
func EphemeralMB(task Task, platform Platform) int {
	switch {
	case task.EphemeralMB != nil:
		return *task.EphemeralMB
	case platform.EphemeralMB != nil:
		return *platform.EphemeralMB
	}
	return 0
}

// Variant is one prompt for a task (long, short, nolib_long, ...).
type Variant struct {
	Prompt    string `json:"prompt"`
	Libraries bool   `json:"libraries"`
}

// Test is one functional test: an event and how to compare the output with
// the reference's output.
type Test struct {
	Name         string   `json:"name"`
	Event        any      `json:"event"`
	Compare      string   `json:"compare"`
	Tolerance    *float64 `json:"tolerance,omitempty"`
	RelTolerance *float64 `json:"rel_tolerance,omitempty"`
	FoldCase     bool     `json:"fold_case,omitempty"`
	Field        string   `json:"field,omitempty"`
	Metric       string   `json:"metric,omitempty"`
	Threshold    *float64 `json:"threshold,omitempty"`
}

// Benchmark is the event measured on the platform.
type Benchmark struct {
	Event      any      `json:"event"`
	ExpectedMS *float64 `json:"expected_ms,omitempty"`
}

// Stage is one function of a pipeline task, with its own prompts and
// reference.
type Stage struct {
	Name      string             `json:"name"`
	Handler   string             `json:"handler"`
	Variants  map[string]Variant `json:"variants"`
	Reference string             `json:"reference"`
	Tests     []StageTest        `json:"tests"`
	Compare   ObjectCompare      `json:"compare"`
	// Packages, TimeoutS and MemoryMB override the task's and the cell's
	// when set.
	Packages   []string `json:"packages,omitempty"`
	TimeoutS   *int     `json:"timeout_s,omitempty"`
	MemoryMB   *int     `json:"memory_mb,omitempty"`
	ExpectedMS *float64 `json:"expected_ms,omitempty"`
}

// StageTest is one more object a stage is checked on.
type StageTest struct {
	Name  string `json:"name"`
	Input string `json:"input"`
}

// Platform is where functions run: "local" (the sandbox) or "aws" (Lambda).
type Platform struct {
	Kind   string `json:"kind"`
	Region string `json:"region,omitempty"`
	Role   string `json:"role,omitempty"`
	// Layers lists each architecture's layers ("x86_64", "arm64").
	Layers map[string][]Layer `json:"layers,omitempty"`
	// Concurrency bounds the functions invoked at once; 0: the platform's default.
	Concurrency int `json:"concurrency,omitempty"`
	// EphemeralMB sizes /tmp of every function; nil: Lambda's 512 MB.
	EphemeralMB *int `json:"ephemeral_mb,omitempty"`
	// InitTimeoutS replaces Lambda's 10 s init limit on the local
	// platform; nil keeps it.
	InitTimeoutS *float64 `json:"init_timeout_s,omitempty"`
	// Mode overrides Matrix.Mode for the cells on this platform ("warm" or
	// "cold"); empty: the matrix's. Two platforms of one kind, one of each
	// mode, measure cold against warm in one run.
	Mode string `json:"mode,omitempty"`
}

// ModeOf is the mode of the cells on the named platform: the platform's
// own, else the matrix's.
func (s *Study) ModeOf(platform string) string {
	if m := s.Platforms[platform].Mode; m != "" {
		return m
	}
	return s.Matrix.Mode
}

// Layer is a Lambda layer and the Python packages it provides.
type Layer struct {
	ARN      string   `json:"arn"`
	Packages []string `json:"packages"`
}

// Matrix lists the values of each dimension; the plan is their product,
// less Exclude, plus Include.
type Matrix struct {
	MemoryMB    []int    `json:"memory_mb"`
	Arch        []string `json:"arch"`
	Platforms   []string `json:"platforms,omitempty"`
	Samples     int      `json:"samples"`
	Repetitions int      `json:"repetitions"`
	Warmup      int      `json:"warmup"`
	Mode        string   `json:"mode"`
	CPUFilter   string   `json:"cpu_filter,omitempty"`
	// CPUFilterCap bounds a cell's calls under CPUFilter; 0: 5 × repetitions.
	CPUFilterCap int       `json:"cpu_filter_cap,omitempty"`
	Exclude      []Pattern `json:"exclude"`
	Include      []Pattern `json:"include"`
}

// Pattern names some coordinates of a cell; nil fields match anything.
// Repetitions and Warmup are overrides that only an include carries.
type Pattern struct {
	Model       *string `json:"model,omitempty"`
	Task        *string `json:"task,omitempty"`
	Variant     *string `json:"variant,omitempty"`
	Sample      *int    `json:"sample,omitempty"`
	Platform    *string `json:"platform,omitempty"`
	Arch        *string `json:"arch,omitempty"`
	MemoryMB    *int    `json:"memory_mb,omitempty"`
	Repetitions *int    `json:"repetitions,omitempty"`
	Warmup      *int    `json:"warmup,omitempty"`
}

// Limits are the rate limits of a provider or a model; a zero field is no
// limit.
type Limits struct {
	RPM         int `json:"rpm,omitempty"`         // requests per minute
	TPM         int `json:"tpm,omitempty"`         // tokens per minute, prompt and completion
	Concurrency int `json:"concurrency,omitempty"` // requests in flight
}

// Generation says how failed API calls are retried. Load fills the
// defaults: 5 retries, backoff capped at 60 s.
type Generation struct {
	Retries     *int     `json:"retries,omitempty"`
	MaxBackoffS *float64 `json:"max_backoff_s,omitempty"`
}

// Default retry settings of generation.
const (
	DefaultRetries     = 5
	DefaultMaxBackoffS = 60.0
)

// Checks says where the check stage runs candidates and references.
type Checks struct {
	// Platform names a platform of the study; empty: the first local one.
	Platform string `json:"platform,omitempty"`
}

// Budget caps what a study may spend.
type Budget struct {
	USD float64 `json:"usd"`
}

// Error is a problem with the field at path (as Pos takes it), placed at
// the field's position, or its nearest parent's when the field has none of
// its own (a default, or a field the study left out): for checks made
// after Load, such as the plan's.
func (s *Study) Error(path, msg string) Error {
	for p := path; p != ""; p = parent(p) {
		if q := s.Pos(p); q != p {
			return Error{Pos: q, Path: path, Msg: msg}
		}
	}
	return Error{Path: path, Msg: msg}
}

// Pos returns "file:line:col" of the field at path (dot-separated, as in
// "tasks.primes.reference"), or the path itself when it has no position.
func (s *Study) Pos(path string) string {
	if p, ok := s.positions[path]; ok {
		return p
	}
	return path
}
