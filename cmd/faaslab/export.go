package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/exporters"
	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/buildinfo"
	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/schema"
)

func newExportCmd(st *State) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "export STUDY.cue",
		Short: "Write a run's tables again from its journal (Parquet, Arrow IPC, CSV)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPlan(st, args[0], o.tags)
			if err != nil {
				return err
			}
			s := p.Study
			out := o.out
			if !filepath.IsAbs(out) {
				out = filepath.Join(st.Cwd, out)
			}
			dir := runDir(out, s.Name, s.Source.SHA256)
			if _, err := os.Stat(filepath.Join(dir, "journal.jsonl")); err != nil {
				return fmt.Errorf("no run of %s in %s: run it first", args[0], relPath(st.Cwd, dir))
			}
			e := &engine.Engine{Plan: p, Dir: dir}
			if _, err := e.Export(cmd.Context(), exporters.All()); err != nil {
				return err
			}
			fmt.Fprintf(st.Stdout, "%s\n", relPath(st.Cwd, filepath.Join(dir, "tables")))
			return nil
		},
	}
	addRunFlags(cmd, &o)
	return cmd
}

// hostFacts describe this host and build, for the manifest row of the
// session about to run.
func hostFacts(ctx context.Context, s *schema.Study, st *State) rows.Manifest {
	host, _ := os.Hostname()
	tags, _ := json.Marshal(tagMap(s.Source.Tags))
	return rows.Manifest{
		FaaslabVersion: buildinfo.Version(),
		GitCommit:      buildinfo.GitCommit(ctx, s.Source.Dir),
		Host:           host,
		OS:             runtime.GOOS,
		HostArch:       st.HostArch,
		CPUModel:       cpuModel(),
		CPUCount:       int32(runtime.NumCPU()),
		PythonVersion:  pythonVersion(ctx),
		Tags:           string(tags),
	}
}

func tagMap(tags []string) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		m[k] = v
	}
	return m
}

func pythonVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
