// Package rows defines the output tables of a study run: one Go type per
// table, one value per row. Every exporter (Parquet, Arrow IPC, CSV) writes
// these same types, so the tables agree column for column.
//
// Conventions: snake_case column names from the `parquet` struct tag; times
// are UTC; durations are float64 milliseconds with the unit in the name;
// pointer fields are nullable columns (null means "not measured", never 0).
package rows

import "time"

// Generation is one generated artifact: one model's code for one task
// variant and sample.
type Generation struct {
	Study        string    `parquet:"study,dict"`
	RunID        string    `parquet:"run_id,dict"`
	GenerationID string    `parquet:"generation_id"`
	Model        string    `parquet:"model,dict"`
	Provider     string    `parquet:"provider,dict"`
	ModelName    string    `parquet:"model_name,dict"`
	ModelVersion string    `parquet:"model_version,dict"` // as the API returned it
	Task         string    `parquet:"task,dict"`
	Variant      string    `parquet:"variant,dict"`
	Sample       int32     `parquet:"sample"`
	PromptSHA256 string    `parquet:"prompt_sha256"`
	CodeSHA256   string    `parquet:"code_sha256"` // empty when generation failed
	InputTokens  *int64    `parquet:"input_tokens,optional"`
	OutputTokens *int64    `parquet:"output_tokens,optional"`
	CostUSD      *float64  `parquet:"cost_usd,optional"`
	LatencyMS    *float64  `parquet:"latency_ms,optional"`
	Attempts     int32     `parquet:"attempts"`
	Error        string    `parquet:"error"`
	Class        string    `parquet:"class,dict"` // TRUNCATED, NOCODE, SE, INIT, FD, TIMEOUT, CRASH, OK
	Cyclomatic   *float64  `parquet:"cyclomatic_complexity,optional"`
	Halstead     *float64  `parquet:"halstead_difficulty,optional"`
	Maintain     *float64  `parquet:"maintainability_index,optional"`
	PylintScore  *float64  `parquet:"pylint_score,optional"`
	MetricsNote  string    `parquet:"metrics_note"` // why a metric is null
	CreatedAt    time.Time `parquet:"created_at,timestamp(microsecond)"`
	// The endpoint's timings and usage in detail: time to first token
	// (streamed answers only), output tokens per second, thinking and
	// cached prompt tokens, and why the model stopped.
	TTFTMS          *float64 `parquet:"ttft_ms,optional"`
	TokensPerS      *float64 `parquet:"tokens_per_s,optional"`
	ReasoningTokens *int32   `parquet:"reasoning_tokens,optional"`
	CachedTokens    *int32   `parquet:"cached_tokens,optional"`
	FinishReason    string   `parquet:"finish_reason,dict"`
	// The reasoning parameters the model was given, empty or null when
	// unset.
	ReasoningEffort     string `parquet:"reasoning_effort,dict"`
	MaxCompletionTokens *int32 `parquet:"max_completion_tokens,optional"`
}

// Check is one functional test of one artifact against the reference.
type Check struct {
	Study        string    `parquet:"study,dict"`
	RunID        string    `parquet:"run_id,dict"`
	GenerationID string    `parquet:"generation_id"`
	Model        string    `parquet:"model,dict"`
	Task         string    `parquet:"task,dict"`
	Variant      string    `parquet:"variant,dict"`
	Sample       int32     `parquet:"sample"`
	Test         string    `parquet:"test,dict"`
	Class        string    `parquet:"class,dict"`
	Compare      string    `parquet:"compare,dict"`
	DiffPath     string    `parquet:"diff_path"` // first differing JSON path, for FD
	Detail       string    `parquet:"detail"`
	DurationMS   *float64  `parquet:"duration_ms,optional"`
	CheckedAt    time.Time `parquet:"checked_at,timestamp(microsecond)"`
}

// Invocation is one call of a deployed function.
type Invocation struct {
	Study           string    `parquet:"study,dict"`
	RunID           string    `parquet:"run_id,dict"`
	CellID          string    `parquet:"cell_id,dict"`
	GenerationID    string    `parquet:"generation_id,dict"`
	Model           string    `parquet:"model,dict"`
	Task            string    `parquet:"task,dict"`
	Variant         string    `parquet:"variant,dict"`
	Sample          int32     `parquet:"sample"`
	Platform        string    `parquet:"platform,dict"`
	Arch            string    `parquet:"arch,dict"`
	MemoryMB        int32     `parquet:"memory_mb"`
	Seq             int32     `parquet:"seq"` // 0-based, warm-up calls first
	Warmup          bool      `parquet:"warmup"`
	Cold            bool      `parquet:"cold"`
	Status          string    `parquet:"status,dict"`
	StartedAt       time.Time `parquet:"started_at,timestamp(microsecond)"`
	DurationMS      float64   `parquet:"duration_ms"`
	RoundTripMS     float64   `parquet:"round_trip_ms"`
	InitMS          *float64  `parquet:"init_ms,optional"`
	BilledMS        *float64  `parquet:"billed_ms,optional"`
	BilledEstMS     *float64  `parquet:"billed_estimate_ms,optional"` // the platform's estimate where Lambda reports none (local); BilledMS is then null
	MaxMemoryUsedMB *int32    `parquet:"max_memory_used_mb,optional"`
	MaxRSSKB        int64     `parquet:"max_rss_kb"`
	MinorFaults     int64     `parquet:"minor_faults"`
	MajorFaults     int64     `parquet:"major_faults"`
	// CPUUserS and CPUSystemS are the function's own CPU time (its
	// execution environment's cgroup on the local platform).
	CPUUserS   float64 `parquet:"cpu_user_s"`
	CPUSystemS float64 `parquet:"cpu_system_s"`
	// CPUThrottledMS is how long the CPU quota held the function back, in
	// CPUThrottledPeriods enforcement periods; CPUShare is its CPU time
	// over the handler's wall time, null when that is zero; CPUQuotaVCPUs
	// is its allotted CPU.
	CPUThrottledMS      float64  `parquet:"cpu_throttled_ms"`
	CPUThrottledPeriods int64    `parquet:"cpu_throttled_periods"`
	CPUShare            *float64 `parquet:"cpu_share,optional"`
	CPUQuotaVCPUs       float64  `parquet:"cpu_quota_vcpus"`
	// The host's CPU time over the call, from /proc/stat.
	HostCPUUserS   float64 `parquet:"host_cpu_user_s"`
	HostCPUSystemS float64 `parquet:"host_cpu_system_s"`
	HostCPUIdleS   float64 `parquet:"host_cpu_idle_s"`
	HostCPUIOWaitS float64 `parquet:"host_cpu_iowait_s"`
	HostCPUStealS  float64 `parquet:"host_cpu_steal_s"`
	ContainerID    string  `parquet:"container_id,dict"`
	CPUModel       string  `parquet:"cpu_model,dict"`
	CPUArch        string  `parquet:"cpu_arch,dict"`
	// CPUMatch says the call ran on the CPU model matrix.cpu_filter names
	// (true when the study has no filter); statistics use matching calls.
	CPUMatch bool   `parquet:"cpu_match"`
	Error    string `parquet:"error"`
	// RestoreMS is Lambda's SnapStart Restore Duration; RequestID is the
	// platform's id of the invocation (Lambda's request id).
	RestoreMS *float64 `parquet:"restore_ms,optional"`
	RequestID string   `parquet:"request_id"`
}

// Cell is the summary of one cell's measured (non-warm-up, successful)
// invocations. Statistics are of DurationMS; they are null when N is 0.
type Cell struct {
	Study          string   `parquet:"study,dict"`
	RunID          string   `parquet:"run_id,dict"`
	CellID         string   `parquet:"cell_id"`
	GenerationID   string   `parquet:"generation_id"`
	Model          string   `parquet:"model,dict"`
	Task           string   `parquet:"task,dict"`
	Variant        string   `parquet:"variant,dict"`
	Sample         int32    `parquet:"sample"`
	Platform       string   `parquet:"platform,dict"`
	Arch           string   `parquet:"arch,dict"`
	MemoryMB       int32    `parquet:"memory_mb"`
	Class          string   `parquet:"class,dict"`
	N              int32    `parquet:"n"`
	MeanMS         *float64 `parquet:"mean_ms,optional"`
	SDMS           *float64 `parquet:"sd_ms,optional"`
	CV             *float64 `parquet:"cv,optional"`
	MedianMS       *float64 `parquet:"median_ms,optional"`
	P95MS          *float64 `parquet:"p95_ms,optional"`
	MinMS          *float64 `parquet:"min_ms,optional"`
	MaxMS          *float64 `parquet:"max_ms,optional"`
	CI95LowMS      *float64 `parquet:"ci95_low_ms,optional"`
	CI95HighMS     *float64 `parquet:"ci95_high_ms,optional"`
	RefMeanMS      *float64 `parquet:"reference_mean_ms,optional"`
	PctDiffVsRef   *float64 `parquet:"pct_diff_vs_reference,optional"`
	CostPer1MUSD   *float64 `parquet:"cost_per_1m_usd,optional"`
	FilteredOutCPU int32    `parquet:"filtered_out_cpu"` // invocations dropped by the CPU-model filter
	Mode           string   `parquet:"mode,dict"`        // warm or cold: how the cell's platform invoked it
}

// Manifest describes one session of a run (one `faaslab run` process; a
// resumed run has several): what ran, where, with which versions.
type Manifest struct {
	Study          string     `parquet:"study,dict"`
	RunID          string     `parquet:"run_id"`
	StudySHA256    string     `parquet:"study_sha256"`
	FaaslabVersion string     `parquet:"faaslab_version"`
	GitCommit      string     `parquet:"git_commit"`
	Host           string     `parquet:"host"`
	OS             string     `parquet:"os"`
	HostArch       string     `parquet:"host_arch"`
	CPUModel       string     `parquet:"cpu_model"`
	CPUCount       int32      `parquet:"cpu_count"`
	PythonVersion  string     `parquet:"python_version"`
	ModelVersions  string     `parquet:"model_versions"` // JSON object: model -> versions the APIs returned
	Tags           string     `parquet:"tags"`           // JSON object of -t overrides
	StartedAt      time.Time  `parquet:"started_at,timestamp(microsecond)"`
	FinishedAt     *time.Time `parquet:"finished_at,optional,timestamp(microsecond)"` // null: the session was killed
}

// Endpoint summarises one model endpoint of a run, one row per (model,
// provider, base URL host): how often it was called, how often it failed,
// and how fast and how dear its answers were. Statistics are of the run's
// generations of the model; they are null when none has the measure.
type Endpoint struct {
	Study          string   `parquet:"study,dict"`
	RunID          string   `parquet:"run_id,dict"`
	Model          string   `parquet:"model,dict"`
	Provider       string   `parquet:"provider,dict"`
	Host           string   `parquet:"host,dict"` // of the base URL; the provider's default when the study sets none
	Generations    int32    `parquet:"generations"`
	Calls          int32    `parquet:"calls"`
	Errors         int32    `parquet:"errors"`
	ErrorRate      *float64 `parquet:"error_rate,optional"`
	LatencyP50MS   *float64 `parquet:"latency_p50_ms,optional"`
	LatencyP95MS   *float64 `parquet:"latency_p95_ms,optional"`
	TTFTP50MS      *float64 `parquet:"ttft_p50_ms,optional"`
	TTFTP95MS      *float64 `parquet:"ttft_p95_ms,optional"`
	TokensPerSP50  *float64 `parquet:"tokens_per_s_p50,optional"`
	CostPerCallUSD *float64 `parquet:"cost_per_call_usd,optional"`
	Truncated      int32    `parquet:"truncated"`
}

// Stage is one invocation of one stage of a pipeline run: the stage's
// function triggered by the object-storage event of its input object.
// BilledMS is Lambda's; BilledEstMS the local platform's estimate; CostUSD
// is the stage's Lambda price plus its S3 requests (one GET, one PUT).
type Stage struct {
	Study           string    `parquet:"study,dict"`
	RunID           string    `parquet:"run_id,dict"`
	CellID          string    `parquet:"cell_id,dict"`
	Pipeline        string    `parquet:"pipeline,dict"` // the pipeline task's id
	Instance        string    `parquet:"instance"`      // the pipeline run's id
	Seq             int32     `parquet:"seq"`
	Warmup          bool      `parquet:"warmup"`
	Stage           string    `parquet:"stage,dict"`
	StageIndex      int32     `parquet:"stage_index"`
	Model           string    `parquet:"model,dict"`       // the pipeline cell's: a model, or a mix's name
	StageModel      string    `parquet:"stage_model,dict"` // the model whose code the stage ran
	Variant         string    `parquet:"variant,dict"`
	Platform        string    `parquet:"platform,dict"`
	Arch            string    `parquet:"arch,dict"`
	MemoryMB        int32     `parquet:"memory_mb"`
	StartedAt       time.Time `parquet:"started_at,timestamp(microsecond)"`
	DurationMS      float64   `parquet:"duration_ms"`
	BilledMS        *float64  `parquet:"billed_ms,optional"`
	BilledEstMS     *float64  `parquet:"billed_estimate_ms,optional"`
	InitMS          *float64  `parquet:"init_ms,optional"`
	Cold            bool      `parquet:"cold"`
	Status          string    `parquet:"status,dict"`
	Error           string    `parquet:"error"`
	MaxMemoryUsedMB *int32    `parquet:"max_memory_used_mb,optional"`
	CostUSD         *float64  `parquet:"cost_usd,optional"`
}

// Pipeline is one pipeline run, end to end: from the upload of its input
// object to the appearance of the last stage's output object.
// StagesMS is the sum of its stages' durations; OverheadMS the rest of
// EndToEndMS (event delivery, object hand-off, invocation). Both are null
// when the run failed. CostUSD is every stage's cost plus the input's
// upload and the objects' storage.
type Pipeline struct {
	Study       string    `parquet:"study,dict"`
	RunID       string    `parquet:"run_id,dict"`
	CellID      string    `parquet:"cell_id,dict"`
	Pipeline    string    `parquet:"pipeline,dict"`
	Instance    string    `parquet:"instance"`
	Seq         int32     `parquet:"seq"`
	Warmup      bool      `parquet:"warmup"`
	Model       string    `parquet:"model,dict"`
	Variant     string    `parquet:"variant,dict"`
	Platform    string    `parquet:"platform,dict"`
	Arch        string    `parquet:"arch,dict"`
	MemoryMB    int32     `parquet:"memory_mb"`
	StartedAt   time.Time `parquet:"started_at,timestamp(microsecond)"`
	EndToEndMS  *float64  `parquet:"end_to_end_ms,optional"`
	StagesMS    *float64  `parquet:"stages_ms,optional"`
	OverheadMS  *float64  `parquet:"overhead_ms,optional"`
	Status      string    `parquet:"status,dict"`
	FailedStage string    `parquet:"failed_stage,dict"`
	CostUSD     *float64  `parquet:"cost_usd,optional"`
	// EndToEndClass is the run's final object against the reference
	// pipeline's: OK or FD (EndToEndDetail says what differs); empty
	// when the run failed.
	EndToEndClass  string `parquet:"end_to_end_class,dict"`
	EndToEndDetail string `parquet:"end_to_end_detail"`
}

// PipelineCell summarises one pipeline cell: one row per stage and one
// for the pipeline end to end (Stage "end_to_end", StageIndex -1).
// Statistics are of the measured (non-warm-up, successful) runs' stage
// durations or end-to-end times; null when N is 0. Class is the end-to-end
// check's on the end_to_end row (the final object against the reference
// pipeline's) and the stage's check class on a stage row. CostPerRunUSD
// is the mean cost per run; WorkloadUSD prices the study's workload
// (WorkloadCount runs of WorkloadUnit).
type PipelineCell struct {
	Study         string   `parquet:"study,dict"`
	RunID         string   `parquet:"run_id,dict"`
	CellID        string   `parquet:"cell_id"`
	Pipeline      string   `parquet:"pipeline,dict"`
	Stage         string   `parquet:"stage,dict"`
	StageIndex    int32    `parquet:"stage_index"`
	GenerationID  string   `parquet:"generation_id"` // the stage's; empty end to end
	Model         string   `parquet:"model,dict"`
	StageModel    string   `parquet:"stage_model,dict"` // the stage's generation's model; empty end to end
	Variant       string   `parquet:"variant,dict"`
	Platform      string   `parquet:"platform,dict"`
	Arch          string   `parquet:"arch,dict"`
	MemoryMB      int32    `parquet:"memory_mb"`
	Class         string   `parquet:"class,dict"`
	Detail        string   `parquet:"detail"`
	N             int32    `parquet:"n"`
	MeanMS        *float64 `parquet:"mean_ms,optional"`
	SDMS          *float64 `parquet:"sd_ms,optional"`
	CV            *float64 `parquet:"cv,optional"`
	MedianMS      *float64 `parquet:"median_ms,optional"`
	P95MS         *float64 `parquet:"p95_ms,optional"`
	CI95LowMS     *float64 `parquet:"ci95_low_ms,optional"`
	CI95HighMS    *float64 `parquet:"ci95_high_ms,optional"`
	CostPerRunUSD *float64 `parquet:"cost_per_run_usd,optional"`
	WorkloadCount int64    `parquet:"workload_count"`
	WorkloadUnit  string   `parquet:"workload_unit,dict"`
	WorkloadUSD   *float64 `parquet:"workload_usd,optional"`
}

// Model is one model of the study as its file describes it: what a report
// groups generations and cells by (class, hosting, style, size; Table 1 of
// the WoSC '25 study) and its token prices. One row per model of the study,
// the reference and hand-written ones included.
type Model struct {
	Study         string   `parquet:"study,dict"`
	RunID         string   `parquet:"run_id,dict"`
	Model         string   `parquet:"model,dict"`
	Provider      string   `parquet:"provider,dict"`
	ModelName     string   `parquet:"model_name,dict"` // the provider's name; empty for reference and files
	Vendor        string   `parquet:"vendor,dict"`
	Class         string   `parquet:"class,dict"`   // small, medium, large or empty
	Hosting       string   `parquet:"hosting,dict"` // cloud, local or empty
	Style         string   `parquet:"style,dict"`   // traditional, reasoning or empty
	SizeB         *float64 `parquet:"size_b,optional"`
	ContextWindow *int32   `parquet:"context_window,optional"`
	ReleaseDate   string   `parquet:"release_date"` // YYYY-MM-DD or YYYY-MM, or empty
	Updated       string   `parquet:"updated"`
	Reasoning     bool     `parquet:"reasoning"`
	InputUSDMTok  *float64 `parquet:"input_usd_per_mtok,optional"`
	OutputUSDMTok *float64 `parquet:"output_usd_per_mtok,optional"`
}

// Tables is one run's results, every table at once.
type Tables struct {
	Generations []Generation
	Checks      []Check
	Invocations []Invocation
	Cells       []Cell
	Manifest    []Manifest
	Endpoints   []Endpoint
	// Pipelines' tables: one row per stage invocation, per pipeline run,
	// and per pipeline cell and stage (or end to end).
	Stages        []Stage
	Pipelines     []Pipeline
	PipelineCells []PipelineCell
	Models        []Model
}
