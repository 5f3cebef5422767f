package engine

import (
	"testing"

	"github.com/faaslab/faaslab/schema"
)

func TestPipelineKeys(t *testing.T) {
	task := schema.Task{Stages: []schema.Stage{{Name: "grey"}, {Name: "rotate"}}}
	for i, want := range []string{"0-input/", "1-grey/", "2-rotate/"} {
		if got := InputPrefix(task, i); got != want {
			t.Errorf("InputPrefix(%d) = %q, want %q", i, got, want)
		}
	}
}
