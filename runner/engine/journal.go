package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/platform"
)

// Record is one line of the journal: a finished unit of work, or a failure
// worth reporting. Exactly one of the pointers is set.
type Record struct {
	Time       time.Time         `json:"time"`
	Generation *GenerationRecord `json:"generation,omitempty"`
	Check      *CheckRecord      `json:"check,omitempty"`
	Invocation *rows.Invocation  `json:"invocation,omitempty"`
	// Failure is an infrastructure failure that exhausted its retries. It
	// marks nothing done: the next run tries the unit again.
	Failure *FailureRecord `json:"failure,omitempty"`
	// Session marks a process starting or ending work on the run.
	Session *SessionRecord `json:"session,omitempty"`
	// Attempt is one API request of a generation; it marks nothing done.
	Attempt *AttemptRecord `json:"attempt,omitempty"`
	// PipelineRun is one measured run of a pipeline cell.
	PipelineRun *PipelineRunRecord `json:"pipeline_run,omitempty"`
	// PipelineCheck is a pipeline cell's end-to-end check, as journals of
	// earlier versions hold it: runs now carry their own
	// (rows.Pipeline.EndToEndClass).
	PipelineCheck *PipelineCheckRecord `json:"pipeline_check,omitempty"`
}

// PipelineRunRecord is one run of a pipeline cell: a row per stage
// invoked and the run's row.
type PipelineRunRecord struct {
	Stages   []rows.Stage  `json:"stages"`
	Pipeline rows.Pipeline `json:"pipeline"`
}

// PipelineCheckRecord is the end-to-end check of a pipeline cell: its
// final object against the reference pipeline's.
type PipelineCheckRecord struct {
	ID     string `json:"id"` // the pipeline cell's
	Class  string `json:"class"`
	Detail string `json:"detail"`
}

// SessionRecord is one process's work on a run: at its start, the facts of
// the host and build it ran on; at its end, how it ended. A session killed
// with SIGKILL has no end.
type SessionRecord struct {
	Facts   *rows.Manifest `json:"facts,omitempty"`
	Outcome string         `json:"outcome,omitempty"` // at the end: done, failed, interrupted
}

// GenerationRecord is a finished generation; its code is in the artifact
// store under Key.
type GenerationRecord struct {
	ID           string    `json:"id"`
	Key          string    `json:"key"`
	CodeSHA256   string    `json:"code_sha256"`
	ModelVersion string    `json:"model_version"`
	InputTokens  int       `json:"input_tokens"`
	OutputTokens int       `json:"output_tokens"`
	LatencyMS    float64   `json:"latency_ms"`
	Attempts     int       `json:"attempts"`
	CreatedAt    time.Time `json:"created_at"`
	// The generation's metadata beyond the above, as llm.Result has it
	// (absent from journals written before they were kept).
	TTFTMS          float64 `json:"ttft_ms,omitempty"`
	ReasoningTokens int     `json:"reasoning_tokens,omitempty"`
	CachedTokens    int     `json:"cached_tokens,omitempty"`
	FinishReason    string  `json:"finish_reason,omitempty"`
}

// CheckRecord is a finished check of one generation: its class, its static
// metrics and one row per test.
type CheckRecord struct {
	ID          string       `json:"id"` // the generation's
	Class       string       `json:"class"`
	Detail      string       `json:"detail"`
	Cyclomatic  *float64     `json:"cyclomatic,omitempty"`
	Halstead    *float64     `json:"halstead,omitempty"`
	Maintain    *float64     `json:"maintainability,omitempty"`
	PylintScore *float64     `json:"pylint,omitempty"`
	MetricsNote string       `json:"metrics_note"`
	Tests       []rows.Check `json:"tests"`
}

// FailureRecord is a unit that failed for reasons outside the function.
type FailureRecord struct {
	Unit     string    `json:"unit"` // the stage: generate, check, measure
	ID       string    `json:"id"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
	Time     time.Time `json:"-"` // the record's
}

// Journal is the append-only record of a run. A record counts once Append
// returns: it is written whole and fsync'd. A crash can only leave a torn
// last line, which Open drops. Journal is safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	// broken is set when a write failed: the file was cut back to the last
	// whole record, and no further record is taken, so it stays readable.
	broken error
	// State is what the journal held at Open plus everything appended since.
	state State
}

// State indexes a journal's records by unit.
type State struct {
	Generations map[string]GenerationRecord // by generation ID
	Checks      map[string]CheckRecord      // by generation ID
	// Made counts each cell's journaled invocations, whose Seq run
	// 0..Made-1, so a resumed cell continues at Made. The invocations
	// themselves stay in the file (EachInvocation): a study of millions of
	// them needs no memory for them.
	Made map[string]int
	// Matched counts each cell's counted invocations that are not
	// warm-ups, ended ok and ran on the CPU matrix.cpu_filter names
	// (rows.Invocation.CPUMatch): under a filter a cell is measured until
	// it has repetitions of them (see cellComplete).
	Matched map[string]int
	// LastStatus is the status of each cell's last invocation.
	LastStatus map[string]string
	Failures   []FailureRecord
	// PipelineRuns holds each pipeline cell's runs, Seq 0..n-1, and
	// PipelineChecks each one's end-to-end check.
	PipelineRuns   map[string][]PipelineRunRecord
	PipelineChecks map[string]PipelineCheckRecord
	// Sessions has one manifest row per session, with its start and (when
	// it ended cleanly) end times.
	Sessions []rows.Manifest

	size int64 // bytes of the journal applied to this state: whole records
}

// OpenJournal opens (creating) the journal at path for appending, holding
// an exclusive lock on it so that two processes never share one run.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("journal %s is in use by another faaslab process: %w", path, ErrBusy)
		}
		return nil, fmt.Errorf("lock journal %s: %w", path, err)
	}
	j := newJournal(f, path)
	good, err := j.read()
	if err == nil {
		// Drop a torn last line, so the next record starts on a line of its own.
		if err = f.Truncate(good); err == nil {
			_, err = f.Seek(good, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j.state.size = good
	return j, nil
}

// ReadJournal reads the journal at path without locking or changing it:
// a torn last line, such as a live run's record half-written, is skipped.
func ReadJournal(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	j := newJournal(f, path)
	size, err := j.read()
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j.state.size = size
	return &j.state, nil
}

// EachInvocation calls fn with every invocation that st counted, in the
// order made, reading them from the journal at path (up to where st was
// read, so that a live run's later records are not half-counted). It
// stops at fn's first error and returns it.
func EachInvocation(path string, st *State, fn func(rows.Invocation) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	defer f.Close()
	made := map[string]int{}
	_, err = eachLine(io.LimitReader(f, st.size), func(_ int, b []byte) error {
		if !bytes.Contains(b, []byte(`"invocation":`)) {
			return nil
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("journal %s: %w", path, err)
		}
		if inv := rec.Invocation; inv != nil && int(inv.Seq) == made[inv.CellID] { // as applyInvocation
			made[inv.CellID]++
			return fn(*inv)
		}
		return nil
	})
	return err
}

// ErrBusy says another process holds the run's journal.
var ErrBusy = errors.New("run in use")

func newJournal(f *os.File, path string) *Journal {
	return &Journal{f: f, path: path, state: State{
		Generations: map[string]GenerationRecord{},
		Checks:      map[string]CheckRecord{},
		Made:        map[string]int{},
		Matched:     map[string]int{},
		LastStatus:  map[string]string{},

		PipelineRuns:   map[string][]PipelineRunRecord{},
		PipelineChecks: map[string]PipelineCheckRecord{},
	}}
}

// read applies every complete line and returns the offset after the last.
func (j *Journal) read() (int64, error) {
	return eachLine(j.f, func(line int, b []byte) error {
		if err := j.applyLine(b); err != nil {
			return fmt.Errorf("line %d: %w (the journal is damaged; move it away to start the run afresh)", line, err)
		}
		return nil
	})
}

// eachLine calls fn with every whole line of r (numbered from 1) and returns
// the offset after the last. A last line without its newline is torn, by a
// crash or a write under way, and is left out.
func eachLine(r io.Reader, fn func(line int, b []byte) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var off int64
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
		if err := fn(line, b); err != nil {
			return off, err
		}
		off += int64(len(b))
	}
}

// invocationLine is what the state needs of an invocation record: most
// lines of a journal are invocations, and decoding only these fields keeps
// opening a journal of millions of them quick.
type invocationLine struct {
	Invocation *struct {
		CellID   string
		Seq      int32
		Status   string
		Warmup   bool
		CPUMatch bool
	} `json:"invocation"`
}

// applyLine applies one journal line.
func (j *Journal) applyLine(b []byte) error {
	if bytes.HasPrefix(b, []byte(`{"time":`)) && bytes.Contains(b, []byte(`,"invocation":{`)) {
		var rec invocationLine
		if err := json.Unmarshal(b, &rec); err != nil {
			return err
		}
		if inv := rec.Invocation; inv != nil {
			j.applyInvocation(inv.CellID, inv.Seq, inv.Status, inv.Warmup, inv.CPUMatch)
			return nil
		}
	}
	var rec Record
	if err := json.Unmarshal(bytes.TrimSpace(b), &rec); err != nil {
		return err
	}
	j.apply(rec)
	return nil
}

// applyInvocation counts an invocation, unless its cell has it already.
func (j *Journal) applyInvocation(cellID string, seq int32, status string, warmup, cpuMatch bool) {
	s := &j.state
	if int(seq) == s.Made[cellID] { // never twice
		s.Made[cellID]++
		s.LastStatus[cellID] = status
		if matches(warmup, cpuMatch, status) {
			s.Matched[cellID]++
		}
	}
}

// matches says whether an invocation counts toward its cell's
// repetitions under a CPU filter: a measured call, ended ok, on the CPU.
func matches(warmup, cpuMatch bool, status string) bool {
	return !warmup && cpuMatch && status == string(platform.StatusOK)
}

func (j *Journal) apply(rec Record) {
	s := &j.state
	switch {
	case rec.Generation != nil:
		s.Generations[rec.Generation.ID] = *rec.Generation
	case rec.Check != nil:
		s.Checks[rec.Check.ID] = *rec.Check
	case rec.Invocation != nil:
		inv := rec.Invocation
		j.applyInvocation(inv.CellID, inv.Seq, inv.Status, inv.Warmup, inv.CPUMatch)
	case rec.PipelineRun != nil:
		r := *rec.PipelineRun
		id := r.Pipeline.CellID
		if int(r.Pipeline.Seq) == len(s.PipelineRuns[id]) { // never twice
			s.PipelineRuns[id] = append(s.PipelineRuns[id], r)
		}
	case rec.PipelineCheck != nil:
		s.PipelineChecks[rec.PipelineCheck.ID] = *rec.PipelineCheck
	case rec.Failure != nil:
		f := *rec.Failure
		f.Time = rec.Time
		s.Failures = append(s.Failures, f)
	case rec.Session != nil && rec.Session.Facts != nil:
		m := *rec.Session.Facts
		m.StartedAt = rec.Time
		s.Sessions = append(s.Sessions, m)
	case rec.Session != nil && len(s.Sessions) > 0:
		t := rec.Time
		s.Sessions[len(s.Sessions)-1].FinishedAt = &t
	}
}

// PipelineEnded reports whether a pipeline cell's measurement ended at a
// failed run, and that run's status.
func (s *State) PipelineEnded(cellID string) (status string, ended bool) {
	runs := s.PipelineRuns[cellID]
	if n := len(runs); n > 0 && runs[n-1].Pipeline.Status != string(platform.StatusOK) {
		return runs[n-1].Pipeline.Status, true
	}
	return "", false
}

// Ended reports whether a cell's measurement ended early, and the status of
// the failed call: a cell stops at its first failed call, so a failed last
// call is the end (the remaining calls are not made, nor retried).
func (s *State) Ended(cellID string) (status string, ended bool) {
	if last, ok := s.LastStatus[cellID]; ok && last != string(platform.StatusOK) {
		return last, true
	}
	return "", false
}

// Append writes rec durably and then applies it to the state.
func (j *Journal) Append(rec Record) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	_, err = j.f.Write(b)
	if err == nil {
		err = j.f.Sync()
	}
	if err != nil {
		// Cut a partial record off (a full disk may have taken half of
		// it), so the journal stays whole for the next run, and take no
		// more records from this one.
		j.f.Truncate(j.state.size)
		j.f.Seek(j.state.size, io.SeekStart)
		j.broken = fmt.Errorf("journal %s: %w", j.path, err)
		return j.broken
	}
	j.state.size += int64(len(b))
	j.apply(rec)
	return nil
}

// View calls f with the state under the journal's lock; f must not keep
// references to the maps past its return.
func (j *Journal) View(f func(*State)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(&j.state)
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }
