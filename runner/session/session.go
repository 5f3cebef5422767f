// Package session carries one command's work on a study: it loads and
// expands the study, opens the run directory and its log, opens the
// study's platforms by kind, wires the checker and the engine, shows
// progress, exports the tables and reports the outcome. The commands of
// cmd/faaslab parse their flags and call Run or Export.
//
// What a session prints is split by purpose: the outcome, the command's
// result, goes to Env.Stdout; the header, progress and notes go to
// Env.Stderr.
package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/lock"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// ErrOverBudget marks a plan whose estimate exceeds the study's budget.
var ErrOverBudget = errors.New("over budget")

// ErrNoRun marks an export of a study that has no run yet.
var ErrNoRun = errors.New("no run")

// Env is the process state a session reads; nothing in this package reads
// os.Stdout, the environment or the working directory itself.
type Env struct {
	// Stdout receives the outcome; Stderr the header, progress and notes.
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Cwd            string
	// HostArch is the architecture the local platform runs ("x86_64").
	HostArch string
	// OpenPlatform opens a platform of the study; nil means platform.Open.
	OpenPlatform func(ctx context.Context, cfg platform.Config) (platform.Platform, error)
	// CanOpen reports whether OpenPlatform knows a kind; nil means
	// platform.Registered. A kind it does not know is a usage error.
	CanOpen func(kind string) bool
	// Facts describe the host and build, for the manifest row of the
	// session about to run.
	Facts func(ctx context.Context, s *schema.Study) rows.Manifest
	// Executable is the running program's file; the record of a finished
	// run (see Run) is valid only for the same build. Empty turns that
	// record off.
	Executable string
}

func (env *Env) open(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
	if env.OpenPlatform != nil {
		return env.OpenPlatform(ctx, cfg)
	}
	return platform.Open(ctx, cfg)
}

func (env *Env) canOpen(kind string) bool {
	if env.CanOpen != nil {
		return env.CanOpen(kind)
	}
	return platform.Registered(kind)
}

// Options say what a session does.
type Options struct {
	// Study is the study file's path, as the user gave it.
	Study string
	// Tags are -t key=value injections.
	Tags []string
	// Out is the results directory, relative to Env.Cwd unless absolute:
	// a run lives in Out/STUDY/RUN.
	Out string
	// Quiet shows no header and no progress; the outcome still prints.
	Quiet bool
	// Parallel is how many cells are measured at once (default 1).
	Parallel int
	// Stages to run, in engine.Stages order; empty runs them all.
	Stages []string
	// Export writes the tables after the stages ran.
	Export bool
	// Locked reads API models' generations from the study's lock (see
	// runner/lock) and never calls a model API; a generation the lock
	// lacks is an error. The run has a directory of its own, named by the
	// study and the lock's content.
	Locked bool
	// Refresh, for Lock, makes API models' generations anew, reading
	// neither the lock nor the artifact store's cached answers.
	Refresh bool

	// lock says the session makes a lock (see Lock): the lock is read
	// before the artifact store and the models.
	lock bool
}

// Load loads the study at path with tags and expands it into its plan.
func Load(env *Env, path string, tags []string) (*plan.Plan, error) {
	s, err := schema.Load(path, schema.Options{Tags: tags, Cwd: env.Cwd, HostArch: env.HostArch})
	if err != nil {
		return nil, err
	}
	return plan.New(s)
}

// RunDir is where a study's run lives: one directory per study content
// (the study file, its tags and every file it refers to), so that the same
// command always finds its own journal.
func RunDir(out, study, sha string) string {
	return filepath.Join(out, study, sha[:12])
}

func (env *Env) out(o Options) string {
	if filepath.IsAbs(o.Out) {
		return o.Out
	}
	return filepath.Join(env.Cwd, o.Out)
}

// Run runs o.Stages of the study (all when none), then exports the tables
// when o.Export. It returns context.Canceled when interrupted (finished
// work is journaled), an error wrapping engine.ErrUnitsFailed when some
// units failed past their retries (after exporting what was made), and
// ErrOverBudget or platform.ErrNotBuilt before doing any work.
//
// A full run that finished with nothing left records what it read (see
// record.go); running it again with nothing changed prints the recorded
// outcome without evaluating the study.
func Run(ctx context.Context, env *Env, o Options) error {
	return run(ctx, env, o, nil)
}

// locked is the lock a session reads, and the run directory it works in.
func locked(env *Env, o Options, p *plan.Plan) (*lock.Lock, string, error) {
	s := p.Study
	dir := RunDir(env.out(o), s.Name, s.Source.SHA256)
	lk := &lock.Lock{Dir: lock.Dir(s), Plan: p}
	if !o.Locked && !o.Refresh {
		if o.lock {
			return lk, dir, nil
		}
		return nil, dir, nil
	}
	sum, err := lk.Hash()
	if err != nil {
		return nil, "", err
	}
	mode := "locked"
	if o.Refresh {
		// A refresh that was interrupted resumes in the same directory;
		// one that finished changed the lock, so the next starts afresh.
		mode = "refresh"
	}
	h := sha256.Sum256([]byte(s.Source.SHA256 + "\x00" + mode + "\x00" + sum))
	return lk, RunDir(env.out(o), s.Name, hex.EncodeToString(h[:])), nil
}

// run is Run; after, when set, is called when the stages finished with
// nothing failed, before the outcome is printed.
func run(ctx context.Context, env *Env, o Options, after func(e *engine.Engine, st *engine.State) error) error {
	full := o.Export && (len(o.Stages) == 0 || len(o.Stages) == len(engine.Stages))
	if full {
		if rec, ok := upToDate(env, o); ok {
			if !o.Quiet {
				fmt.Fprintf(env.Stderr, "study %s: unchanged since its tables were written (the study, its files, its tags and the journal); nothing to do\n",
					o.Study)
			}
			_, err := io.WriteString(env.Stdout, rec.Outcome)
			return err
		}
	}
	p, err := Load(env, o.Study, o.Tags)
	if err != nil {
		return err
	}
	s := p.Study
	est := p.Estimate()
	if o.Locked { // the lock replaces the model APIs: their tokens cost nothing
		est.TotalUSD -= est.LLMUSD
	}
	if over := est.OverBudget(); over > 0 {
		return fmt.Errorf("%s: estimated cost exceeds budget.usd by $%.2f (see faaslab plan): %w", o.Study, over, ErrOverBudget)
	}
	if needs(o.Stages, engine.StageMeasure) {
		seen := map[string]bool{}
		for _, c := range p.Cells { // an include may add cells on any platform
			if seen[c.Platform] {
				continue
			}
			seen[c.Platform] = true
			if cfg := PlatformConfig(s, c.Platform); !env.canOpen(cfg.Kind) {
				return fmt.Errorf("%s: %w; run the study on the local sandbox with -t platform=local, or exclude the platform",
					o.Study, platform.NotBuilt(cfg))
			}
		}
	}
	if cp := s.Checks.Platform; cp != "" && needs(o.Stages, engine.StageCheck) {
		if cfg := PlatformConfig(s, cp); !env.canOpen(cfg.Kind) {
			return fmt.Errorf("%s: checks.platform: %w", o.Study, platform.NotBuilt(cfg))
		}
		// Checks run at this host's architecture: their functions need
		// layers for it too.
		if err := p.CheckLayers(cp, env.HostArch); err != nil {
			return err
		}
	}
	out := env.out(o)
	lk, dir, err := locked(env, o, p)
	if err != nil {
		return err
	}
	if o.Locked {
		if err := lk.Check(ctx); err != nil {
			return fmt.Errorf("%s: %w", o.Study, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Platforms' warnings (a host too busy for faithful timings) concern
	// the person watching the run too.
	platformLog := slog.New(slog.NewMultiHandler(log.Handler(),
		slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.Info("run started", "study", s.Name, "file", o.Study, "tags", o.Tags, "dir", dir)

	// Each platform is opened on first use and shared by every stage and
	// worker.
	var mu sync.Mutex
	opened := map[string]func() (platform.Platform, error){}
	platforms := func(name string) (platform.Platform, error) {
		mu.Lock()
		open := opened[name]
		if open == nil {
			cfg := PlatformConfig(s, name)
			cfg.Log = platformLog
			open = sync.OnceValues(func() (platform.Platform, error) { return env.open(ctx, cfg) })
			opened[name] = open
		}
		mu.Unlock()
		return open()
	}
	// Platforms that keep resources across deployments release them when
	// the session ends (after the checker's, deferred later), interrupted
	// or not.
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, name := range slices.Sorted(maps.Keys(opened)) {
			pl, err := opened[name]()
			if c, ok := pl.(platform.Closer); ok && err == nil {
				if err := c.Close(context.WithoutCancel(ctx)); err != nil {
					log.Warn("closing platform", "platform", name, "error", err)
				}
			}
		}
	}()
	if needs(o.Stages, engine.StageMeasure) {
		// Open the cells' platforms before any work: a platform's
		// preflight (AWS credentials, role, region) fails now, not after
		// the generations were paid for.
		for _, c := range p.Cells {
			if _, err := platforms(c.Platform); err != nil {
				return err
			}
		}
		for _, pc := range p.Pipelines {
			if _, err := platforms(pc.Platform); err != nil {
				return err
			}
		}
	}
	var checker *check.Checker
	if needs(o.Stages, engine.StageCheck) {
		// The checker's tools run in the local sandbox; candidates and
		// references there too, unless the study's checks.platform names
		// another (an aws one, to fan the checks out to Lambda).
		name := "local"
		for _, n := range slices.Sorted(maps.Keys(s.Platforms)) {
			if s.Platforms[n].Kind == "local" {
				name = n
				break
			}
		}
		lp, err := platforms(name)
		if err != nil {
			return err
		}
		checker = &check.Checker{Platform: lp, Tools: lp, CacheDir: filepath.Join(out, s.Name, "cache")}
		if cp := s.Checks.Platform; cp != "" && cp != name {
			if checker.Platform, err = platforms(cp); err != nil {
				return err
			}
		}
		// The checker's tool and spare containers go with the session,
		// interrupted or not.
		defer func() {
			if err := checker.Close(context.WithoutCancel(ctx)); err != nil {
				log.Warn("closing the checker's containers", "error", err)
			}
		}()
	}
	var facts rows.Manifest
	if env.Facts != nil {
		facts = env.Facts(ctx, s)
	}
	// The run's id, as the tables' run_id: platforms tag what they
	// deploy with it, so that `faaslab destroy --run` finds it.
	facts.RunID = filepath.Base(dir)
	e := &engine.Engine{
		Plan:  p,
		Dir:   dir,
		Store: llm.Store{Dir: filepath.Join(out, s.Name, "artifacts")},
		Generators: func(provider string) (llm.Generator, error) {
			if o.Locked && provider != "reference" && provider != "files" {
				return nil, fmt.Errorf("--locked: no %s API is called; the lock %s must hold the generation", provider, lk.Dir)
			}
			return llm.New(provider, env.Getenv, nil)
		},
		Platforms:        platforms,
		Checker:          checker,
		CheckMemoryMB:    checkMemory(s.Matrix.MemoryMB),
		CheckArch:        env.HostArch,
		GenerateParallel: 4,
		CheckParallel:    2,
		MeasureParallel:  max(o.Parallel, 1),
		Retries:          3,
		Backoff:          time.Second,
		Log:              log,
		Progress:         engine.NewProgress(env.Stderr, isTerminal(env.Stderr), o.Quiet),
		Facts:            facts,
		Locked:           o.Locked,
		Refresh:          o.Refresh,
	}
	if lk != nil {
		e.Replay = lk
	}
	if !o.Quiet {
		cells := fmt.Sprintf("%d cells", len(p.Cells))
		if len(p.Pipelines) > 0 {
			cells += fmt.Sprintf(", %d pipelines", len(p.Pipelines))
		}
		fmt.Fprintf(env.Stderr, "study %s: %d generations, %d checks, %s, %d invocations planned (only code that passes its checks is measured)\nrun directory %s\n",
			s.Name, len(p.Generations), p.Checks(), cells, p.Invocations(), relPath(env.Cwd, dir))
	}
	runErr := e.Run(ctx, o.Stages...)
	if errors.Is(runErr, context.Canceled) || ctx.Err() != nil {
		log.Info("run interrupted")
		fmt.Fprintf(env.Stderr, "\ninterrupted: finished work is saved in %s; run the same command again to resume\n", relPath(env.Cwd, dir))
		return context.Canceled
	}
	if runErr != nil && !errors.Is(runErr, engine.ErrUnitsFailed) {
		return runErr
	}
	if after != nil && runErr == nil {
		st, err := engine.ReadJournal(filepath.Join(dir, "journal.jsonl"))
		if err != nil {
			return err
		}
		if err := after(e, st); err != nil {
			return err
		}
	}
	if o.Export {
		summary, err := e.Export(ctx, exporters.All())
		if err != nil {
			return err
		}
		outcome := fmt.Sprintf("%s: %s\ntables written to %s\n", s.Name, summary, relPath(env.Cwd, filepath.Join(dir, "tables")))
		if _, err := io.WriteString(env.Stdout, outcome); err != nil {
			return err
		}
		if full && runErr == nil {
			if err := writeRecord(env, o, s, dir, outcome); err != nil {
				log.Warn("no record of the finished run", "error", err)
			}
		}
	} else {
		st, err := engine.ReadJournal(filepath.Join(dir, "journal.jsonl"))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s: %s\n", s.Name, stageOutcome(p, st, o.Stages))
		fmt.Fprintf(env.Stdout, "run directory %s (faaslab export %s writes its tables)\n", relPath(env.Cwd, dir), o.Study)
	}
	log.Info("run finished", "error", fmt.Sprint(runErr))
	if runErr != nil {
		return fmt.Errorf("%w; run the same command again to retry them", runErr)
	}
	return nil
}

// Lock runs, or resumes, the generate stage of the study, then writes its
// lock (runner/lock) beside the study from the run's generations: those
// the lock held already are read from it, the others come from the
// artifact store or the models. With o.Refresh every API generation is
// made anew, in a run directory of its own. The lock is written only when
// every generation was made.
func Lock(ctx context.Context, env *Env, o Options) error {
	o.Stages, o.Export, o.Locked, o.lock = []string{engine.StageGenerate}, false, false, true
	var (
		n   int
		dir string
	)
	err := run(ctx, env, o, func(e *engine.Engine, st *engine.State) error {
		lk := &lock.Lock{Dir: lock.Dir(e.Plan.Study), Plan: e.Plan}
		dir = lk.Dir
		var err error
		n, err = lk.Write(ctx, st, e.Store)
		return err
	})
	if errors.Is(err, engine.ErrUnitsFailed) || errors.Is(err, engine.ErrSpendLimit) {
		return fmt.Errorf("%w\nthe lock was not written", err)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		_, err = fmt.Fprintf(env.Stdout, "no model of %s calls an API: nothing to lock\n", o.Study)
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "lock %s: %d generations (faaslab run %s --locked reads it)\n", relPath(env.Cwd, dir), n, o.Study)
	return err
}

// stageOutcome says how far the stages got: generations made, checked,
// and invocations, by the last stage run.
func stageOutcome(p *plan.Plan, st *engine.State, stages []string) string {
	last := engine.StageMeasure
	if len(stages) > 0 {
		last = stages[len(stages)-1]
	}
	switch last {
	case engine.StageGenerate:
		return fmt.Sprintf("%d of %d generations made", len(st.Generations), len(p.Generations))
	case engine.StageCheck:
		return fmt.Sprintf("%d of %d generations made, %d checked", len(st.Generations), len(p.Generations), len(st.Checks))
	}
	return engine.TallyInvocations(p, st).String()
}

// Export writes the tables of the study's run again from its journal and
// prints where they are.
func Export(ctx context.Context, env *Env, o Options) error {
	p, err := Load(env, o.Study, o.Tags)
	if err != nil {
		return err
	}
	_, dir, err := locked(env, o, p)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "journal.jsonl")); err != nil {
		return fmt.Errorf("no run of %s in %s: run it first: %w", o.Study, relPath(env.Cwd, dir), ErrNoRun)
	}
	e := &engine.Engine{Plan: p, Dir: dir}
	if _, err := e.Export(ctx, exporters.All()); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s\n", relPath(env.Cwd, filepath.Join(dir, "tables")))
	return err
}

// needs reports whether a run of stages (all when none) runs stage.
func needs(stages []string, stage string) bool {
	return len(stages) == 0 || slices.Contains(stages, stage)
}

// checkMemory is the memory size checks run at: the study's largest, at
// most 3008 MB, so slow-but-correct code is not misjudged as a timeout.
func checkMemory(sizes []int) int {
	m := 128
	for _, s := range sizes {
		if s > m {
			m = s
		}
	}
	return min(m, 3008)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func relPath(cwd, p string) string {
	if r, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
