// Package chain deploys pipelines (platform.Chain) on platforms that host
// their functions' object storage themselves (platform.Function.S3: the
// local sandbox, the fake), delivering the storage events from the runner.
//
// Each chain deployment has an object store of its own (runner/objstore)
// with one bucket, Bucket. Stage i's Function.S3 is that store's REST API
// limited to reading Prefixes[i] and writing Prefixes[i+1], and its
// environment names the output (OUTPUT_BUCKET, OUTPUT_PREFIX), as a Lambda
// function's configuration would. A run uploads its input object, invokes
// stage 0 with that object's S3 event, watches Prefixes[1] for the object
// whose stem is the run's, invokes stage 1 with that object's event, and
// so on: what S3 bucket notifications do on AWS, one event at a time.
//
// Infrastructure retries are the caller's: a run that hit one (the
// error wraps platform.ErrInfrastructure) is retried whole. The stage
// whose invocation failed so is closed and deployed again by the next
// Run, so a crashed sandbox does not fail every later run.
package chain

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/objstore"
	"github.com/faaslab/faaslab/runner/platform"
)

// Bucket is the bucket of a chain's objects.
const Bucket = "faaslab-pipeline"

// OutputWait bounds the wait for a stage's output object after the stage
// returned: a stage writes it before it returns, so the object is
// normally there at once.
const OutputWait = 10 * time.Second

// Deploy deploys c's stages on pl, each with its scoped view of a new
// object store. pl's functions must take Function.S3.
func Deploy(ctx context.Context, pl platform.Platform, c platform.Chain) (platform.ChainDeployment, error) {
	if len(c.Stages) == 0 {
		return nil, fmt.Errorf("chain %s: no stages", c.Name)
	}
	if len(c.Prefixes) != len(c.Stages)+1 {
		return nil, fmt.Errorf("chain %s: %d prefixes for %d stages, want %d", c.Name, len(c.Prefixes), len(c.Stages), len(c.Stages)+1)
	}
	d := &deployment{pl: pl, name: c.Name, store: objstore.New(), prefixes: c.Prefixes}
	for i, fn := range c.Stages {
		fn.Env = maps.Clone(fn.Env)
		if fn.Env == nil {
			fn.Env = map[string]string{}
		}
		fn.Env[platform.EnvOutputBucket] = Bucket
		fn.Env[platform.EnvOutputPrefix] = c.Prefixes[i+1]
		fn.S3 = d.store.Handler(objstore.Scope{Bucket: Bucket, Read: []string{c.Prefixes[i]}, Write: []string{c.Prefixes[i+1]}})
		if fn.Tags == nil && c.Tags != nil {
			fn.Tags = c.Tags
		}
		d.stages = append(d.stages, &stage{fn: fn})
	}
	for i := range d.stages {
		if err := d.ready(ctx, i); err != nil {
			d.Close(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return d, nil
}

// stage is one stage's function and its deployment, nil until deployed
// and after an infrastructure failure.
type stage struct {
	fn  platform.Function
	dep platform.Deployment
}

type deployment struct {
	pl       platform.Platform
	name     string
	prefixes []string

	mu     sync.Mutex
	store  *objstore.Store // nil once closed
	stages []*stage
}

var errClosed = errors.New("chain closed")

// ready deploys stage i when it has no deployment.
func (d *deployment) ready(ctx context.Context, i int) error {
	st := d.stages[i]
	if st.dep != nil {
		return nil
	}
	dep, err := d.pl.Deploy(ctx, st.fn)
	if err != nil {
		return fmt.Errorf("chain %s: deploy stage %d: %w", d.name, i, err)
	}
	st.dep = dep
	return nil
}

// drop closes stage i's deployment, so that the next Run deploys it anew.
func (d *deployment) drop(ctx context.Context, i int) {
	if st := d.stages[i]; st.dep != nil {
		st.dep.Close(context.WithoutCancel(ctx))
		st.dep = nil
	}
}

// Stem is the stem of a run's name: its file name without the extension
// ("c-0001.png" → "c-0001").
func Stem(name string) string {
	base := path.Base(name)
	return strings.TrimSuffix(base, path.Ext(base))
}

// Follows reports whether key is an object of the run whose stem is stem:
// its file name is the stem, or the stem and extensions ("c-0001.png",
// "c-0001.tar.gz").
func Follows(key, stem string) bool {
	base := path.Base(key)
	return base == stem || strings.HasPrefix(base, stem+".")
}

// Run uploads data as Prefixes[0]+name and follows the run through the
// stages. See platform.ChainDeployment. It holds the lock for the whole
// run: runs are serialised by the caller anyway, and a Close that comes
// meanwhile waits for the run, which its timeout and ctx bound, rather
// than closing the stages under it.
func (d *deployment) Run(ctx context.Context, name string, data []byte, timeout time.Duration) (platform.ChainRun, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store == nil {
		return platform.ChainRun{}, fmt.Errorf("chain %s: run %s: %w", d.name, name, errClosed)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// timedOut says the run's own deadline, not the caller's, ended it.
	timedOut := func() bool { return rctx.Err() != nil && ctx.Err() == nil }
	stem := Stem(name)
	key := d.prefixes[0] + name
	if err := d.store.Put(ctx, Bucket, key, data); err != nil {
		return platform.ChainRun{}, err
	}
	_, uploaded, err := d.store.Get(ctx, Bucket, key)
	if err != nil {
		return platform.ChainRun{}, err
	}
	run := platform.ChainRun{Uploaded: uploaded}
	for i, st := range d.stages {
		if timedOut() {
			run.TimedOut = true
			return run, nil
		}
		if err := ctx.Err(); err != nil {
			return platform.ChainRun{}, err
		}
		event, err := d.store.Notification(ctx, Bucket, key)
		if err != nil {
			return platform.ChainRun{}, err
		}
		if err := d.ready(ctx, i); err != nil {
			return platform.ChainRun{}, err
		}
		wctx, stopWatch := context.WithCancel(rctx)
		watch := d.store.Watch(wctx, Bucket, d.prefixes[i+1])
		start := time.Now()
		inv, err := st.dep.Invoke(rctx, event)
		if err == nil && inv.InitTimedOut {
			// Lambda starts the environment again on the next call after
			// an init past its limit; so does the run.
			inv, err = st.dep.Invoke(rctx, event)
		}
		if err != nil {
			stopWatch()
			d.drop(ctx, i)
			if timedOut() {
				// The run's deadline passed during the invocation: the
				// stage did not finish.
				if inv.Start.IsZero() {
					inv.Start = start.UTC()
				}
				inv.Status, inv.ErrorType = platform.StatusTimeout, "Chain.Timedout"
				inv.ErrorMessage = fmt.Sprintf("the run's timeout (%s) passed during the invocation", timeout)
				inv.Duration = time.Since(start)
				run.Stages = append(run.Stages, platform.ChainStage{Invocation: inv})
				run.TimedOut = true
				return run, nil
			}
			if ctx.Err() != nil {
				return platform.ChainRun{}, ctx.Err()
			}
			return platform.ChainRun{}, fmt.Errorf("chain %s: run %s: stage %d: %w", d.name, name, i, err)
		}
		cs := platform.ChainStage{Invocation: inv}
		if inv.Status == platform.StatusOK {
			if o, ok := waitOutput(rctx, watch, stem); ok {
				cs.Output = &platform.Object{Key: o.Key, Size: o.Size, Modified: o.Modified}
			}
		}
		stopWatch()
		if ctx.Err() != nil {
			return platform.ChainRun{}, ctx.Err()
		}
		run.Stages = append(run.Stages, cs)
		if cs.Output == nil {
			run.TimedOut = inv.Status == platform.StatusOK && timedOut()
			return run, nil
		}
		key = cs.Output.Key
	}
	return run, nil
}

// waitOutput returns the first object reported by watch that follows
// stem, waiting at most OutputWait.
func waitOutput(ctx context.Context, watch <-chan objstore.Object, stem string) (objstore.Object, bool) {
	timer := time.NewTimer(OutputWait)
	defer timer.Stop()
	for {
		select {
		case o, ok := <-watch:
			if !ok {
				return objstore.Object{}, false
			}
			if Follows(o.Key, stem) {
				return o, true
			}
		case <-timer.C:
			return objstore.Object{}, false
		case <-ctx.Done():
			return objstore.Object{}, false
		}
	}
}

// Get reads an object of the chain's bucket.
func (d *deployment) Get(ctx context.Context, key string) ([]byte, error) {
	d.mu.Lock()
	store := d.store
	d.mu.Unlock()
	if store == nil {
		return nil, fmt.Errorf("chain %s: get %s: %w", d.name, key, errClosed)
	}
	data, _, err := store.Get(ctx, Bucket, key)
	return data, err
}

// Close closes every stage's deployment and drops the store.
func (d *deployment) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, st := range d.stages {
		if st.dep != nil {
			errs = append(errs, st.dep.Close(ctx))
			st.dep = nil
		}
	}
	d.store = nil
	return errors.Join(errs...)
}
