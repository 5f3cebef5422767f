package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/runner/check"
	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/local"
)

// runOptions are the flags shared by run and the one-stage commands.
type runOptions struct {
	tags     []string
	out      string
	quiet    bool
	parallel int
	noExport bool
}

func addRunFlags(cmd *cobra.Command, o *runOptions) {
	addTagFlag(cmd, &o.tags)
	cmd.Flags().StringVar(&o.out, "out", "results", "results directory: the run goes to OUT/STUDY/RUN")
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "show no progress")
	cmd.Flags().IntVar(&o.parallel, "parallel", 1, "cells measured at once (more disturbs timings on a small host)")
}

func newRunCmd(st *State) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run STUDY.cue",
		Short: "Generate, check and measure every cell of a study, then export its tables",
		Long: `run carries a study through every stage: generate the code, check it against
the reference, measure it on its platform, and export the tables (Parquet,
Arrow IPC, CSV) to OUT/STUDY/RUN/tables. Every finished unit is journaled;
running the same command again resumes where the last run stopped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStudy(cmd.Context(), st, args[0], o)
		},
	}
	addRunFlags(cmd, &o)
	return cmd
}

// newStageCmd is a command that runs the study up to and including one
// stage (earlier stages' work is resumed from the journal, or done).
func newStageCmd(st *State, stage, short string) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   stage + " STUDY.cue",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var stages []string
			for _, s := range engine.Stages {
				stages = append(stages, s)
				if s == stage {
					break
				}
			}
			o.noExport = true // `faaslab export` writes the tables
			return runStudy(cmd.Context(), st, args[0], o, stages...)
		},
	}
	addRunFlags(cmd, &o)
	return cmd
}

// runDir is where a study's run lives: one directory per study file
// content and tags, so the same command always finds its own journal.
func runDir(out, study, sha string) string {
	return filepath.Join(out, study, sha[:12])
}

func runStudy(ctx context.Context, st *State, path string, o runOptions, stages ...string) error {
	p, err := loadPlan(st, path, o.tags)
	if err != nil {
		return err
	}
	s := p.Study
	if over := p.Estimate().OverBudget(); over > 0 {
		return fmt.Errorf("%s: estimated cost exceeds budget.usd by $%.2f (see faaslab plan): %w", path, over, errOverBudget)
	}
	if needs(stages, engine.StageMeasure) {
		for _, c := range p.Cells { // an include may add cells on any platform
			if kind := s.Platforms[c.Platform].Kind; kind != "local" {
				return fmt.Errorf("%s: platform %s is of kind %q, which this build of faaslab can plan but not run yet; run the study on the local sandbox with -t platform=local, or exclude the platform", path, c.Platform, kind)
			}
		}
	}
	out := o.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(st.Cwd, out)
	}
	dir := runDir(out, s.Name, s.Source.SHA256)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	log.Info("run started", "study", s.Name, "file", path, "tags", o.tags, "dir", dir)

	// The local platform is made on first use and shared by every stage
	// and worker.
	localPlatform := sync.OnceValues(func() (platform.Platform, error) {
		lp, err := local.New(local.Options{}) // its errors name the local platform
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return lp, nil
	})
	platforms := func(name string) (platform.Platform, error) {
		return localPlatform() // the only kind that passed the check above
	}
	var checker *check.Checker
	if needs(stages, engine.StageCheck) {
		lp, err := localPlatform()
		if err != nil {
			return err
		}
		checker = &check.Checker{Platform: lp, CacheDir: filepath.Join(out, s.Name, "cache")}
	}
	isTTY := false
	if f, ok := st.Stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			isTTY = true
		}
	}
	e := &engine.Engine{
		Plan:  p,
		Dir:   dir,
		Store: llm.Store{Dir: filepath.Join(out, s.Name, "artifacts")},
		Generators: func(provider string) (llm.Generator, error) {
			return llm.New(provider, st.Getenv, nil)
		},
		Platforms:        platforms,
		Checker:          checker,
		CheckMemoryMB:    checkMemory(s.Matrix.MemoryMB),
		CheckArch:        st.HostArch,
		GenerateParallel: 4,
		CheckParallel:    2,
		MeasureParallel:  o.parallel,
		Retries:          3,
		Backoff:          time.Second,
		Log:              log,
		Progress:         engine.NewProgress(st.Stderr, isTTY, o.quiet),
		Facts:            hostFacts(ctx, s, st),
	}
	if !o.quiet {
		fmt.Fprintf(st.Stderr, "study %s: %d generations, %d checks, %d cells, %d invocations\nrun directory %s\n",
			s.Name, len(p.Generations), p.Checks(), len(p.Cells), p.Invocations(), relPath(st.Cwd, dir))
	}
	runErr := e.Run(ctx, stages...)
	if errors.Is(runErr, context.Canceled) || ctx.Err() != nil {
		log.Info("run interrupted")
		fmt.Fprintf(st.Stderr, "\ninterrupted: finished work is saved in %s; run the same command again to resume\n", relPath(st.Cwd, dir))
		return context.Canceled
	}
	if runErr != nil && !errors.Is(runErr, engine.ErrUnitsFailed) {
		return runErr
	}
	if !o.noExport {
		summary, err := e.Export(ctx, exporters.All())
		if err != nil {
			return err
		}
		if !o.quiet {
			fmt.Fprintf(st.Stderr, "%s\ntables written to %s\n", summary, relPath(st.Cwd, filepath.Join(dir, "tables")))
		}
	}
	log.Info("run finished", "error", fmt.Sprint(runErr))
	if runErr != nil {
		return fmt.Errorf("%w; run the same command again to retry them", runErr)
	}
	return nil
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

func relPath(cwd, p string) string {
	if r, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
