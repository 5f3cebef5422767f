package main

import (
	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/runner/session"
)

// runOptions are the flags of run and the one-stage commands. Each
// command offers only the flags that mean something to it.
type runOptions struct {
	tags     []string
	out      string
	quiet    bool
	parallel int
	locked   bool
}

// addStudyFlags adds the flags every command on a study's run has.
func addStudyFlags(cmd *cobra.Command, o *runOptions) {
	addTagFlag(cmd, &o.tags)
	cmd.Flags().StringVar(&o.out, "out", "results", "results directory: the run goes to OUT/STUDY/RUN")
}

// addProgressFlag adds --quiet, for the commands that show progress.
func addProgressFlag(cmd *cobra.Command, o *runOptions) {
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "show no header and no progress on stderr (the outcome still goes to stdout)")
}

// addParallelFlag adds --parallel, for the commands that measure.
func addParallelFlag(cmd *cobra.Command, o *runOptions) {
	cmd.Flags().IntVar(&o.parallel, "parallel", 1, "cells measured at once (more disturbs timings on a small host)")
}

func (o runOptions) session(study string, stages []string, export bool) session.Options {
	return session.Options{Study: study, Tags: o.tags, Out: o.out, Quiet: o.quiet, Parallel: o.parallel,
		Stages: stages, Export: export, Locked: o.locked}
}

func newRunCmd(st *State) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run STUDY.cue",
		Short: "Generate, check and measure every cell of a study, then export its tables",
		Long: `run carries a study through every stage: generate the code, check it against
the reference, measure it on its platform, and export the tables (Parquet,
Arrow IPC, CSV) to OUT/STUDY/RUN/tables. Every finished unit is journaled;
running the same command again resumes where the last run stopped, and
when nothing changed since a finished run (the study, its files, its tags,
the journal) it prints that run's outcome at once.

The outcome goes to stdout; the header and progress go to stderr.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return session.Run(cmd.Context(), st.env(), o.session(args[0], nil, true))
		},
	}
	addStudyFlags(cmd, &o)
	addProgressFlag(cmd, &o)
	addParallelFlag(cmd, &o)
	addLockedFlag(cmd, &o)
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
			// `faaslab export` writes the tables.
			return session.Run(cmd.Context(), st.env(), o.session(args[0], stages, false))
		},
	}
	addStudyFlags(cmd, &o)
	addProgressFlag(cmd, &o)
	if stage == engine.StageMeasure {
		addParallelFlag(cmd, &o)
	}
	addLockedFlag(cmd, &o)
	return cmd
}
