package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/runner/plan"
)

type planOptions struct {
	tags  []string
	json  bool
	cells bool
}

func newPlanCmd(st *State) *cobra.Command {
	var o planOptions
	cmd := &cobra.Command{
		Use:   "plan STUDY.cue",
		Short: "Expand a study into its run matrix and estimate its cost",
		Long: `plan loads and validates a study, expands its matrix and prints the number
of generations, checks, cells and invocations, counts per dimension, and an
estimate of model tokens and AWS Lambda cost. It exits 2 for a bad study and
3 when the estimate exceeds the study's budget.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(st, args[0], o)
		},
	}
	addTagFlag(cmd, &o.tags)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON (docs/plan-json.md)")
	cmd.Flags().BoolVar(&o.cells, "cells", false, "with --json, list every cell")
	return cmd
}

func addTagFlag(cmd *cobra.Command, tags *[]string) {
	cmd.Flags().StringArrayVarP(tags, "tag", "t", nil, "set a study's @tag(key) field: -t key=value")
}

func runPlan(st *State, path string, o planOptions) error {
	p, err := loadPlan(st, path, o.tags)
	if err != nil {
		return err
	}
	sum := p.Summarize(o.json && o.cells)
	if o.json {
		enc := json.NewEncoder(st.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		printPlan(st.Stdout, sum)
	}
	if over := sum.Estimate.OverBudget(); over > 0 {
		return fmt.Errorf("%s: estimated cost $%.2f exceeds budget.usd $%.2f by $%.2f: %w",
			path, sum.Estimate.TotalUSD, sum.Estimate.BudgetUSD, over, errOverBudget)
	}
	return nil
}

func printPlan(w io.Writer, s plan.Summary) {
	fmt.Fprintf(w, "study %s (sha256 %s)\n\n", s.Study, s.StudySHA256[:12])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "generations\t%d\t\n", s.Counts.Generations)
	fmt.Fprintf(tw, "checks\t%d\t\n", s.Counts.Checks)
	fmt.Fprintf(tw, "cells\t%d\t\n", s.Counts.Cells)
	if s.Counts.Pipelines > 0 { // counted as cells in the dimensions below
		fmt.Fprintf(tw, "pipelines\t%d\t\n", s.Counts.Pipelines)
	}
	fmt.Fprintf(tw, "invocations\t%d\t\n", s.Counts.Invocations)
	if s.Counts.StageInvocations > 0 {
		fmt.Fprintf(tw, "of them stage invocations\t%d\t\n", s.Counts.StageInvocations)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "dimension\tvalue\tgenerations\tcells\tinvocations")
	for _, dim := range plan.Dimensions {
		for _, d := range s.Dimensions[dim] {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", dim, d.Value, d.Generations, d.Cells, d.Invocations)
		}
	}
	tw.Flush()
	e := s.Estimate
	fmt.Fprintf(w, "\nestimate\n")
	fmt.Fprintf(w, "  model tokens  %d in, %d out: $%.2f\n", e.InputTokens, e.OutputTokens, e.LLMUSD)
	if e.PricesDate != "" {
		fmt.Fprintf(w, "  AWS Lambda    $%.2f (prices of %s)\n", e.LambdaUSD, e.PricesDate)
	} else {
		fmt.Fprintf(w, "  AWS Lambda    $%.2f\n", e.LambdaUSD)
	}
	fmt.Fprintf(w, "  total         $%.2f of budget $%.2f\n", e.TotalUSD, e.BudgetUSD)
	if len(e.Notes) > 0 {
		fmt.Fprintf(w, "  notes:\n    %s\n", strings.Join(e.Notes, "\n    "))
	}
}
