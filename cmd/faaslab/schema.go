package main

import (
	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/schema"
)

func newSchemaCmd(st *State) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the study schema (CUE), for use with cue vet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := st.Stdout.Write(schema.CUE)
			return err
		},
	}
}
