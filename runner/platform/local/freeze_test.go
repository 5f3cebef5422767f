package local

import (
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestFreezeBetweenInvocations checks that a warm container is frozen
// once its invocation has returned and settled, and that invocations
// back to back, each thawing a container whose freeze may still be under
// way, all run warm in the one container.
func TestFreezeBetweenInvocations(t *testing.T) {
	p := newPlatform(t, Options{})
	d := deployDir(t, p, "echo", nil)
	dep := d.(*deployment)
	first := platformtest.Invoke(t, d, `{"n": 0}`)
	platformtest.Want(t, first, platform.StatusOK, "")
	if err := dep.waitIdle(); err != nil {
		t.Fatal(err)
	}
	// Every process is stopped once the freeze is settled; the group
	// reports FROZEN when the last has reached the freezer, which takes
	// longer on a loaded host.
	if !dep.c.cg.waitFrozen(time.Minute) {
		t.Errorf("the idle container is not frozen")
	}
	for i := 1; i <= 50; i++ {
		inv := platformtest.Invoke(t, d, `{"n": 1}`)
		platformtest.Want(t, inv, platform.StatusOK, "")
		if inv.Cold || inv.ContainerID != first.ContainerID || string(inv.Result) != `{"n":1}` {
			t.Fatalf("call %d: cold=%v container %s result %s, want the first call's warm container", i, inv.Cold, inv.ContainerID, inv.Result)
		}
	}
}

// TestNoFreeze checks that Options.NoFreeze leaves idle containers
// running.
func TestNoFreeze(t *testing.T) {
	p := newPlatform(t, Options{NoFreeze: true})
	d := deployDir(t, p, "echo", nil)
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
	dep := d.(*deployment)
	if err := dep.waitIdle(); err != nil {
		t.Fatal(err)
	}
	if dep.c.cg.waitFrozen(0) {
		t.Errorf("the idle container is frozen despite NoFreeze")
	}
}
