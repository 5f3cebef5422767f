package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/internal/durable"
	"github.com/faaslab/faaslab/report"
	"github.com/faaslab/faaslab/schema"
)

// outputOptions are where a report goes besides the terminal.
type outputOptions struct {
	html, markdown string
}

func addOutputFlags(cmd *cobra.Command, o *outputOptions) {
	cmd.Flags().StringVar(&o.html, "html", "", "also write the report as one self-contained HTML file with SVG charts")
	cmd.Flags().StringVar(&o.markdown, "markdown", "", "also write the report as Markdown")
}

type reportOptions struct {
	outputOptions
	study string
	tags  []string
}

func newReportCmd(st *State) *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report RESULTS...",
		Short: "Turn runs' exported tables into the studies' tables and figures",
		Long: `report reads the Parquet tables of one or more runs and prints the tables of
the studies faaslab reproduces: runtime % difference against the reference
(Table 4 of the WoSC '25 study), correct code by model and prompt, static
metrics with a t-test between model groups, runtime distributions, cost of
1M executions, pipelines per stage and end to end across architectures,
cold against warm calls, memory sweeps, LLM endpoints, and every cell's
statistics. Each RESULTS is a run directory, its tables directory, or a
directory of runs (a study's, or a whole --out directory); runs are pooled.

--study names the study file, whose models' class, hosting and style group
the static metrics' t-tests; without it, models are grouped by provider.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), st, args, o)
		},
	}
	addOutputFlags(cmd, &o.outputOptions)
	cmd.Flags().StringVar(&o.study, "study", "", "the study file, for its models' metadata")
	addTagFlag(cmd, &o.tags)
	return cmd
}

func runReport(ctx context.Context, st *State, args []string, o reportOptions) error {
	d, err := readResults(ctx, st, args)
	if err != nil {
		return err
	}
	var opts report.Options
	if o.study != "" {
		s, err := schema.Load(o.study, schema.Options{Tags: o.tags, Cwd: st.Cwd, HostArch: st.HostArch})
		if err != nil {
			return err
		}
		opts.Models = map[string]report.ModelInfo{}
		for id, m := range s.Models {
			opts.Models[id] = report.ModelInfo{Class: m.Class, Hosting: m.Hosting, Style: m.Style}
		}
	}
	return writeReport(st, report.Build(d, opts), o.outputOptions)
}

type compareOptions struct{ outputOptions }

func newCompareCmd(st *State) *cobra.Command {
	var o compareOptions
	cmd := &cobra.Command{
		Use:   "compare RUN_A RUN_B",
		Short: "Compare two runs cell by cell: change in mean and median, Welch's p, classes that changed",
		Long: `compare matches the cells of two runs by their coordinates (model, task,
variant, sample, platform, architecture, memory), not by run or cell id,
and prints, as benchstat does, each cell's mean and median function time in
A and in B with the change and Welch's t-test p-value (~ when not
significant at 5 %), then the cells whose class changed (OK → FD, ...).
RUN_A and RUN_B are run directories or tables directories; a directory of
several runs pools them.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := readResults(cmd.Context(), st, args[:1])
			if err != nil {
				return err
			}
			b, err := readResults(cmd.Context(), st, args[1:])
			if err != nil {
				return err
			}
			return writeReport(st, report.Compare(a, b, args[0], args[1]), o.outputOptions)
		},
	}
	addOutputFlags(cmd, &o.outputOptions)
	return cmd
}

// readResults reads the tables under the paths, relative to the working
// directory.
func readResults(ctx context.Context, st *State, paths []string) (*report.Data, error) {
	dirs, err := report.FindTables(st.Cwd, paths)
	if err != nil {
		return nil, err
	}
	return report.Read(ctx, st.Cwd, dirs)
}

// writeReport prints r on stdout and writes the files o asks for.
func writeReport(st *State, r *report.Report, o outputOptions) error {
	if err := report.WriteText(st.Stdout, r); err != nil {
		return err
	}
	for _, f := range []struct {
		path  string
		write func(io.Writer, *report.Report) error
	}{{o.markdown, report.WriteMarkdown}, {o.html, report.WriteHTML}} {
		if f.path == "" {
			continue
		}
		err := durable.WriteFile(st.path(f.path), 0o644, func(w io.Writer) error { return f.write(w, r) })
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// path resolves p against the working directory.
func (st *State) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(st.Cwd, p)
}
