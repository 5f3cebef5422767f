// Package plan expands a study into its run matrix: the generations to make,
// the cells to measure, with stable IDs, and what the study will cost.
// Expansion is plain Go over the validated schema.Study, not CUE
// comprehensions, so a million-invocation study plans in well under a second.
package plan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/faaslab/faaslab/runner/pricing"
	"github.com/faaslab/faaslab/schema"
)

// IDVersion is part of every ID's hash input. Changing what goes into an ID
// must bump it, so old results are never mistaken for new ones.
const IDVersion = "faaslab.v1"

// Generation is one artifact to produce: a model's code for one task variant
// and sample. Cells that share it measure the same code.
type Generation struct {
	ID      string
	Model   string
	Task    string
	Variant string
	// Stage is the stage's name when Task is a pipeline: the generation is
	// that stage's code, StageIndex its place in the pipeline. Empty for a
	// single function.
	Stage        string
	StageIndex   int
	Sample       int
	PromptSHA256 string // of the system prompt and the variant's prompt text
	// PromptBytes is the length of the text sent, the base of the estimate.
	PromptBytes int
}

// Cell is one measured configuration: a generation on a platform, an
// architecture and a memory size, invoked Warmup+Repetitions times.
type Cell struct {
	ID          string
	Generation  int // index into Plan.Generations
	Model       string
	Task        string
	Variant     string
	Sample      int
	Platform    string
	Arch        string
	MemoryMB    int
	Repetitions int
	Warmup      int
}

// Invocations is how many times the cell's function is called.
func (c Cell) Invocations() int { return c.Warmup + c.Repetitions }

// Pipeline is one measured pipeline instance: every stage's code from one
// model (or, when Model names one of the task's mixes, each stage's from
// the mix's model for it) and one variant, at one architecture, each stage at its memory size,
// run Warmup+Repetitions times. Its embedded Cell holds its coordinates
// (Cell.Generation is its first stage's); Generations and MemoryMB list
// each stage's.
type Pipeline struct {
	Cell
	// Generations holds each stage's generation, index into
	// Plan.Generations, in stage order.
	Generations []int
	// StageMemoryMB is each stage's memory size: the stage's memory_mb,
	// else the cell's.
	StageMemoryMB []int
}

// StageInvocations is how many stage functions the pipeline's runs call.
func (pc Pipeline) StageInvocations() int { return pc.Invocations() * len(pc.Generations) }

// Plan is a study's run matrix. It is read-only once New returns, and safe
// to share between goroutines.
type Plan struct {
	Study       *schema.Study
	Generations []Generation
	Cells       []Cell
	// Pipelines are the cells of pipeline tasks; Cells holds only single
	// functions'.
	Pipelines []Pipeline
	// Prompts holds each generation's prompt text by PromptSHA256.
	Prompts map[string]Prompt
	// Prices is the price table the study's costs use: faaslab's dated
	// table with the study's prices merged over it.
	Prices *pricing.Table
}

// Prompt is the text sent to a model for one task variant.
type Prompt struct {
	System string
	User   string
}

// Checks is the number of functional tests to run: one per generation and
// test case of its task.
func (p *Plan) Checks() int {
	n := 0
	for _, g := range p.Generations {
		n += len(p.StageTests(g))
	}
	return n
}

// StageTests names the tests of generation g: its task's, or for a stage
// of a pipeline "pipeline" (the reference pipeline's object for the
// stage) and the stage's own tests.
func (p *Plan) StageTests(g Generation) []string {
	t := p.Study.Tasks[g.Task]
	if g.Stage == "" {
		names := make([]string, len(t.Tests))
		for i, tt := range t.Tests {
			names[i] = tt.Name
		}
		return names
	}
	names := []string{PipelineTest}
	for _, tt := range t.Stages[g.StageIndex].Tests {
		names = append(names, tt.Name)
	}
	return names
}

// PipelineTest is the name of a stage's test on the object the reference
// pipeline hands it.
const PipelineTest = "pipeline"

// Function is the task whose code generation g is: its task, or the stage
// of a pipeline as a task of its own (schema.Task.StageTask).
func (p *Plan) Function(g Generation) schema.Task {
	t := p.Study.Tasks[g.Task]
	if g.Stage == "" {
		return t
	}
	return t.StageTask(g.StageIndex)
}

// PriceTable is p.Prices, or faaslab's default table for a Plan made
// without New (as tests make them).
func (p *Plan) PriceTable() *pricing.Table {
	if p.Prices != nil {
		return p.Prices
	}
	return pricing.Default()
}

// Invocations is the total number of function calls the plan makes.
func (p *Plan) Invocations() int {
	n := 0
	for _, c := range p.Cells {
		n += c.Invocations()
	}
	return n + p.StageInvocations()
}

// StageInvocations is the number of stage function calls the plan's
// pipelines make (part of Invocations).
func (p *Plan) StageInvocations() int {
	n := 0
	for _, pc := range p.Pipelines {
		n += pc.StageInvocations()
	}
	return n
}

// New expands s. It reads the prompt files (to hash them into IDs) and
// fails when one cannot be read, or with schema.Errors when the study's
// prices do not make a usable table or a cell on an aws platform needs
// packages no layer provides.
func New(s *schema.Study) (*Plan, error) {
	prices, err := pricing.New(s.Prices)
	if fe := (*pricing.FieldError)(nil); errors.As(err, &fe) {
		return nil, schema.Errors{s.Error(fe.Path, fe.Msg)}
	} else if err != nil {
		return nil, err
	}
	p := &Plan{Study: s, Prompts: map[string]Prompt{}, Prices: prices}
	system, err := readSystemPrompt(s)
	if err != nil {
		return nil, err
	}
	m := s.Matrix
	promptSums := map[string]string{} // by prompt file
	genIndex := map[genKey]int{}
	var cellBase [][sha256.Size]byte // by generation index
	modelKeys := map[string]string{} // paramsKey by model
	idBuf := make([]byte, 0, 512)    // reused for every ID's hash input

	// addGeneration returns the index of (model, task, variant, sample),
	// creating it on first use.
	var last genKey
	lastIndex := -1
	addGeneration := func(model, task, stage, variant string, sample int) (int, error) {
		k := genKey{model, task, stage, variant, sample}
		if k == last && lastIndex >= 0 { // cells come in runs of one generation
			return lastIndex, nil
		}
		if i, ok := genIndex[k]; ok {
			last, lastIndex = k, i
			return i, nil
		}
		t := s.Tasks[task]
		stageIndex := -1
		path := ""
		if stage == "" {
			path = t.Variants[variant].Prompt
		} else {
			for i, st := range t.Stages {
				if st.Name == stage {
					stageIndex, path = i, st.Variants[variant].Prompt
				}
			}
		}
		psum, ok := promptSums[path]
		if !ok {
			b, err := os.ReadFile(s.Path(path))
			if err != nil {
				if stage != "" {
					return 0, fmt.Errorf("tasks.%s.stages[%d].variants.%s.prompt: %w", task, stageIndex, variant, err)
				}
				return 0, fmt.Errorf("tasks.%s.variants.%s.prompt: %w", task, variant, err)
			}
			psum = hashOf("prompt", system, string(b))
			promptSums[path] = psum
			p.Prompts[psum] = Prompt{System: system, User: string(b)}
		}
		mod := s.Models[model]
		g := Generation{
			Model: model, Task: task, Variant: variant, Stage: stage, StageIndex: max(stageIndex, 0), Sample: sample,
			PromptSHA256: psum, PromptBytes: len(system) + len(p.Prompts[psum].User),
		}
		mk, ok := modelKeys[model]
		if !ok {
			mk = paramsKey(mod.Params)
			modelKeys[model] = mk
		}
		sampleText := strconv.Itoa(sample)
		idBuf = idInput(idBuf[:0], "generation", model, mod.Provider, mod.Model, mod.Version, mod.BaseURL,
			mk, psum, task, variant, sampleText)
		if stage != "" { // single functions' IDs stay as they were
			idBuf = idInput(idBuf, "stage", stage)
		}
		g.ID = hashHex(idBuf)
		p.Generations = append(p.Generations, g)
		// A cell's ID covers its generation's coordinates through their
		// digest, computed once here, so hashing a cell reads one block.
		idBuf = idInput(idBuf[:0], "cell", model, mod.Model, mod.Version, psum, task, variant, sampleText)
		cellBase = append(cellBase, sha256.Sum256(idBuf))
		genIndex[k] = len(p.Generations) - 1
		last, lastIndex = k, len(p.Generations)-1
		return lastIndex, nil
	}
	buf := make([]byte, 0, 128)
	var addPipeline func(Cell, schema.Task) error
	addCell := func(c Cell) error {
		if t := s.Tasks[c.Task]; t.IsPipeline() {
			return addPipeline(c, t)
		}
		gi, err := addGeneration(c.Model, c.Task, "", c.Variant, c.Sample)
		if err != nil {
			return err
		}
		c.Generation = gi
		buf = append(buf[:0], cellBase[gi][:]...)
		buf = idInput(buf, c.Platform, c.Arch)
		buf = binary.AppendUvarint(buf, uint64(c.MemoryMB))
		c.ID = hashHex(buf)
		p.Cells = append(p.Cells, c)
		return nil
	}

	// addPipeline adds the pipeline cell c of task t and its stages'
	// generations: c.Model's, or for a mix each stage's model's (shared
	// with that model's own pipeline cells). Its ID covers every stage's
	// generation and memory size, and the mix's name.
	addPipeline = func(c Cell, t schema.Task) error {
		pc := Pipeline{Cell: c}
		h := sha256.New()
		h.Write(idInput(nil, "pipeline", c.Platform, c.Arch))
		if _, ok := t.Mixes[c.Model]; ok {
			h.Write(idInput(nil, "mix", c.Model))
		}
		for i, st := range t.Stages {
			gi, err := addGeneration(t.StageModel(c.Model, i), c.Task, st.Name, c.Variant, c.Sample)
			if err != nil {
				return err
			}
			mem := c.MemoryMB
			if st.MemoryMB != nil {
				mem = *st.MemoryMB
			}
			pc.Generations = append(pc.Generations, gi)
			pc.StageMemoryMB = append(pc.StageMemoryMB, mem)
			h.Write(cellBase[gi][:])
			h.Write(binary.AppendUvarint(nil, uint64(mem)))
		}
		h.Write(binary.AppendUvarint(nil, uint64(c.MemoryMB)))
		pc.Generation = pc.Generations[0]
		pc.ID = hex.EncodeToString(h.Sum(nil)[:idLen/2])
		p.Pipelines = append(p.Pipelines, pc)
		return nil
	}

	p.Cells = make([]Cell, 0, productSize(s))
	var err2 error
	product(s, nil, func(c Cell) {
		if err2 != nil {
			return
		}
		for _, ex := range m.Exclude {
			if matches(ex, c) {
				return
			}
		}
		c.Repetitions, c.Warmup = m.Repetitions, m.Warmup
		err2 = addCell(c)
	})
	if err2 != nil {
		return nil, err2
	}
	if err := p.include(addCell); err != nil {
		return nil, err
	}
	if errs := p.checkLayers(); len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

type genKey struct {
	model, task, stage, variant string
	sample                      int
}

// product calls f for every combination of the matrix's dimensions that
// agrees with the pattern fix (nil fixes nothing), in the plan's order:
// model, task, variant, sample, platform, arch, memory. The models are
// the study's, then the pipelines' mixes (each with its own task only).
func product(s *schema.Study, fix *schema.Pattern, f func(Cell)) {
	m := s.Matrix
	ok := func(want *string, have string) bool { return want == nil || *want == have }
	for _, model := range append(schema.SortedKeys(s.Models), mixNames(s)...) {
		if fix != nil && !ok(fix.Model, model) {
			continue
		}
		_, isModel := s.Models[model]
		for _, task := range schema.SortedKeys(s.Tasks) {
			if fix != nil && !ok(fix.Task, task) {
				continue
			}
			if _, isMix := s.Tasks[task].Mixes[model]; !isModel && !isMix {
				continue
			}
			for _, variant := range s.Tasks[task].VariantNames() {
				if fix != nil && !ok(fix.Variant, variant) {
					continue
				}
				for sample := 0; sample < m.Samples; sample++ {
					if fix != nil && fix.Sample != nil && *fix.Sample != sample {
						continue
					}
					for _, pl := range orOne(m.Platforms, fix, func(p *schema.Pattern) *string { return p.Platform }) {
						for _, arch := range orOne(m.Arch, fix, func(p *schema.Pattern) *string { return p.Arch }) {
							for _, mem := range orOneInt(m.MemoryMB, fix) {
								f(Cell{Model: model, Task: task, Variant: variant, Sample: sample,
									Platform: pl, Arch: arch, MemoryMB: mem})
							}
						}
					}
				}
			}
		}
	}
}

// mixNames are the names of the study's mixes, sorted, each once.
func mixNames(s *schema.Study) []string {
	seen := map[string]bool{}
	for _, t := range s.Tasks {
		for name := range t.Mixes {
			seen[name] = true
		}
	}
	return schema.SortedKeys(seen)
}

// productSize is the number of cells before exclude and include.
func productSize(s *schema.Study) int {
	variants := 0
	for _, t := range s.Tasks {
		variants += (len(s.Models) + len(t.Mixes)) * len(t.VariantNames())
	}
	m := s.Matrix
	return variants * m.Samples * len(m.Platforms) * len(m.Arch) * len(m.MemoryMB)
}

// orOne is the values of a dimension, or the single value an include fixes
// (which may lie outside the matrix: that is how include adds new cells).
func orOne(all []string, fix *schema.Pattern, get func(*schema.Pattern) *string) []string {
	if fix != nil && get(fix) != nil {
		return []string{*get(fix)}
	}
	return all
}

func orOneInt(all []int, fix *schema.Pattern) []int {
	if fix != nil && fix.MemoryMB != nil {
		return []int{*fix.MemoryMB}
	}
	return all
}

// include applies matrix.include as GitHub Actions does: an entry whose
// coordinates all match existing cells merges its overrides into them;
// an entry that matches no cell adds new cells, its own coordinates fixed and
// every coordinate it leaves out taking each of the matrix's values.
func (p *Plan) include(addCell func(Cell) error) error {
	m := p.Study.Matrix
	have := make(map[string]bool, len(p.Cells)+len(p.Pipelines))
	for _, c := range p.Cells {
		have[c.ID] = true
	}
	for _, pc := range p.Pipelines {
		have[pc.ID] = true
	}
	for _, in := range m.Include {
		matched := false
		for i := range p.Cells {
			if matches(in, p.Cells[i]) {
				matched = true
				override(&p.Cells[i], in)
			}
		}
		for i := range p.Pipelines {
			if matches(in, p.Pipelines[i].Cell) {
				matched = true
				override(&p.Pipelines[i].Cell, in)
			}
		}
		if matched {
			continue
		}
		var err error
		product(p.Study, &in, func(c Cell) {
			if err != nil {
				return
			}
			t := p.Study.Tasks[c.Task]
			if !t.HasVariant(c.Variant) {
				return
			}
			c.Repetitions, c.Warmup = m.Repetitions, m.Warmup
			override(&c, in)
			err = addCell(c)
			if err != nil {
				return
			}
			if t.IsPipeline() {
				last := p.Pipelines[len(p.Pipelines)-1]
				if have[last.ID] {
					p.Pipelines = p.Pipelines[:len(p.Pipelines)-1]
				}
				have[last.ID] = true
				return
			}
			last := p.Cells[len(p.Cells)-1]
			if have[last.ID] {
				p.Cells = p.Cells[:len(p.Cells)-1]
			}
			have[last.ID] = true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func override(c *Cell, in schema.Pattern) {
	if in.Repetitions != nil {
		c.Repetitions = *in.Repetitions
	}
	if in.Warmup != nil {
		c.Warmup = *in.Warmup
	}
}

// matches reports whether c agrees with every coordinate pat names.
func matches(pat schema.Pattern, c Cell) bool {
	eq := func(want *string, have string) bool { return want == nil || *want == have }
	return eq(pat.Model, c.Model) && eq(pat.Task, c.Task) && eq(pat.Variant, c.Variant) &&
		eq(pat.Platform, c.Platform) && eq(pat.Arch, c.Arch) &&
		(pat.Sample == nil || *pat.Sample == c.Sample) &&
		(pat.MemoryMB == nil || *pat.MemoryMB == c.MemoryMB)
}

func readSystemPrompt(s *schema.Study) (string, error) {
	if s.SystemPromptFile == "" {
		return s.SystemPrompt, nil
	}
	b, err := os.ReadFile(s.Path(s.SystemPromptFile))
	if err != nil {
		return "", fmt.Errorf("system_prompt_file: %w", err)
	}
	return string(b), nil
}

// paramsKey is a canonical text of the generation parameters for IDs.
func paramsKey(p schema.Params) string {
	f := func(x *float64) string {
		if x == nil {
			return "-"
		}
		return strconv.FormatFloat(*x, 'g', -1, 64)
	}
	i := func(x *int) string {
		if x == nil {
			return "-"
		}
		return strconv.Itoa(*x)
	}
	key := fmt.Sprintf("t=%s p=%s m=%s s=%s stop=%q", f(p.Temperature), f(p.TopP), i(p.MaxTokens), i(p.Seed), p.Stop)
	// The reasoning parameters join the text only when set, so that the
	// IDs of studies without them stay as they were.
	if p.MaxCompletionTokens != nil || p.ReasoningEffort != "" {
		key += fmt.Sprintf(" mct=%s effort=%q", i(p.MaxCompletionTokens), p.ReasoningEffort)
	}
	return key
}

// idLen is how many hex digits of the sha256 an ID keeps: 80 bits, so a
// collision among a study's cells is out of reach.
const idLen = 20

// hashOf is the hex sha256 of IDVersion, kind and parts, each length-prefixed
// so that no two different part lists hash alike.
func hashOf(kind string, parts ...string) string {
	sum := sha256.Sum256(idInput(nil, append([]string{kind}, parts...)...))
	return hex.EncodeToString(sum[:])
}

// idInput appends the length-prefixed parts to buf, starting with IDVersion
// when buf is empty. (A cell's input starts with a 32-byte digest, which
// makes it non-empty: the version is inside that digest.)
func idInput(buf []byte, parts ...string) []byte {
	if len(buf) == 0 {
		buf = binary.AppendUvarint(buf, uint64(len(IDVersion)))
		buf = append(buf, IDVersion...)
	}
	for _, s := range parts {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return buf
}

// hashHex is the ID of an idInput.
func hashHex(in []byte) string {
	sum := sha256.Sum256(in)
	return hex.EncodeToString(sum[:idLen/2])
}
