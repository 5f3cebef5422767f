package main

import (
	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/runner/session"
)

// addLockedFlag adds --locked, for the commands that generate or read a
// run's generations.
func addLockedFlag(cmd *cobra.Command, o *runOptions) {
	cmd.Flags().BoolVar(&o.locked, "locked", false,
		"read API models' generations from the study's lock (faaslab lock); no model API is called")
}

func newLockCmd(st *State) *cobra.Command {
	var (
		o       runOptions
		refresh bool
	)
	cmd := &cobra.Command{
		Use:   "lock STUDY.cue",
		Short: "Generate the code of every API model, then write it and its metadata beside the study",
		Long: `lock runs (or resumes) the generate stage, then writes what the models wrote
to NAME.lock beside the study (NAME is the study's name): for every
generation of a model that calls an API, the generated files under
<model>/<task>/<variant>/<sample>/, the metadata (model version, tokens,
timings, parameters, prompt hash) in <sample>.json and the raw answer in
<sample>.response.md. Commit the lock with the study; then run, check,
measure and export with --locked re-run the study from it, with no API key
and no network. A "files" model whose dir is NAME.lock/<model> reads the
code too.

Generations the lock holds already are kept; --refresh makes every one
anew, reading neither the lock nor the cached answers of earlier runs.
The lock is written only when every generation was made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			so := o.session(args[0], nil, false)
			so.Refresh = refresh
			return session.Lock(cmd.Context(), st.env(), so)
		},
	}
	addStudyFlags(cmd, &o)
	addProgressFlag(cmd, &o)
	cmd.Flags().BoolVar(&refresh, "refresh", false, "make every API generation anew, reading neither the lock nor cached answers")
	return cmd
}
