package engine

import (
	"context"
	"testing"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/schema"
)

func TestPipelineKeys(t *testing.T) {
	task := schema.Task{Stages: []schema.Stage{{Name: "grey"}, {Name: "rotate"}}}
	for i, want := range []string{"0-input/", "1-grey/", "2-rotate/"} {
		if got := InputPrefix(task, i); got != want {
			t.Errorf("InputPrefix(%d) = %q, want %q", i, got, want)
		}
	}
	for key, want := range map[string]string{"1-grey/c-0001.png": "c-0001", "c-0001": "c-0001", "a/b/x.tar.gz": "x", "p/.hidden": ".hidden"} {
		if got := stem(key); got != want {
			t.Errorf("stem(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestWaitOutput: a run takes the object its own stage wrote under the
// prefix, not another run's, and gives up on a stage that wrote nothing.
func TestWaitOutput(t *testing.T) {
	ctx := context.Background()
	store := objstore.New()
	watch := store.Watch(ctx, PipelineBucket, "1-grey/")
	store.Put(ctx, PipelineBucket, "1-grey/other-0001.png", []byte("x"))
	store.Put(ctx, PipelineBucket, "2-rotate/run-0002.png", []byte("x"))
	store.Put(ctx, PipelineBucket, "1-grey/run-0002.jpg", []byte("xyz"))
	o, ok := waitOutput(ctx, watch, "run-0002")
	if !ok || o.Key != "1-grey/run-0002.jpg" || o.Size != 3 || o.Modified.IsZero() {
		t.Fatalf("waitOutput = %+v, %v", o, ok)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := waitOutput(cctx, store.Watch(cctx, PipelineBucket, "1-grey/"), "run-0003"); ok {
		t.Error("waitOutput found an object no stage wrote")
	}
}
