package main

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/session"
)

type destroyOptions struct {
	tags []string
	run  string
}

func newDestroyCmd(st *State) *cobra.Command {
	var o destroyOptions
	cmd := &cobra.Command{
		Use:   "destroy STUDY.cue",
		Short: "Delete the AWS Lambda functions, S3 buckets (and role) faaslab created for a study",
		Long: `destroy deletes, on every aws platform of the study, each Lambda function
faaslab created for the study (found by its tags: faaslab:managed,
faaslab:study and, with --run, faaslab:run) with its CloudWatch log group,
each S3 bucket of the study's pipelines (found by the same tags, in the
platform's region) with its objects, and the execution role faaslab created
when the platform's role is "create". A run deletes its own functions and
buckets when it ends; destroy is for what a killed run left behind.
Resources that faaslab did not create are never touched. It prints what it
deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDestroy(cmd.Context(), st, args[0], o)
		},
	}
	addTagFlag(cmd, &o.tags)
	cmd.Flags().StringVar(&o.run, "run", "", "delete only this run's functions and buckets (its run_id in the tables); the role stays")
	return cmd
}

func runDestroy(ctx context.Context, st *State, path string, o destroyOptions) error {
	p, err := loadPlan(st, path, o.tags)
	if err != nil {
		return err
	}
	s := p.Study
	var found bool
	for _, name := range slices.Sorted(maps.Keys(s.Platforms)) {
		if s.Platforms[name].Kind != aws.Kind {
			continue
		}
		found = true
		done, err := aws.Destroy(ctx, session.PlatformConfig(s, name), o.run)
		for _, b := range done.Buckets {
			fmt.Fprintf(st.Stdout, "deleted bucket %s\n", b)
		}
		for _, f := range done.Functions {
			fmt.Fprintf(st.Stdout, "deleted function %s\n", f)
		}
		if done.Role != "" {
			fmt.Fprintf(st.Stdout, "deleted role %s\n", done.Role)
		}
		if err != nil {
			return fmt.Errorf("platform %s: %w", name, err)
		}
		fmt.Fprintf(st.Stdout, "platform %s: %d functions deleted (and %d log groups), %d buckets deleted\n", name,
			len(done.Functions), len(done.LogGroups), len(done.Buckets))
	}
	if !found {
		fmt.Fprintf(st.Stdout, "%s has no aws platform: nothing to destroy\n", path)
	}
	return nil
}
