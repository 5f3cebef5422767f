package aws

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/faaslab/faaslab/runner/platform"
)

// Following a run.
//
// Run uploads the input object and then polls, backing off from
// p.opts.Poll to pollMax: S3 for each stage's output object (listing the
// output prefix narrowed to the run's stem), and the stages' log groups
// for their invocations (chainlog.go). The run's timeout bounds the
// pipeline itself, the appearance of its objects; the stages' REPORT
// lines, which CloudWatch Logs delivers seconds later, are awaited up
// to reportWait beyond it.
//
// Times. S3 lists Last-Modified to the second, too coarse for a stage
// that takes milliseconds, so the times come from elsewhere, each from
// AWS's clocks: Uploaded is the eventTime (milliseconds) of the S3
// notification that invoked the first stage, which S3 stamps when it
// stored the object; a stage's Output.Modified is likewise the eventTime
// of the next stage's notification, and for the last stage (which no
// notification follows) the time Lambda logged the wrapper's line, just
// after the handler, which wrote the object, returned: an upper bound.
// When a line is missing, the PutObject's answer (by the runner's clock)
// and S3's Last-Modified stand in.

// pollMax is the longest wait between polls.
const pollMax = 2 * time.Second

// reportWait bounds the wait for stages' REPORT lines once the objects
// settled the run: CloudWatch Logs delivers a log event a few seconds
// after Lambda wrote it, rarely more than a minute.
const reportWait = 90 * time.Second

// logSkew is how far before the upload, by the runner's clock, a run's
// log events are looked for: the clocks of the runner and of Lambda may
// differ a little.
const logSkew = 5 * time.Second

// policyWait is how long after the chain's role policy was put an
// access denied in a stage is taken for IAM not having applied it yet.
const policyWait = 2 * time.Minute

// stem is a key's file name without its extension: the run's name,
// which every object of the run carries.
func stem(key string) string {
	base := path.Base(key)
	if i := strings.IndexByte(base, '.'); i > 0 {
		return base[:i]
	}
	return base
}

// Run uploads data as Prefixes[0]+name and follows the run (see above).
// A run that a stage's access denied ended while IAM may still be
// applying the chain's new role policy is made again, after a wait.
func (cd *chainDeployment) Run(ctx context.Context, name string, data []byte, timeout time.Duration) (platform.ChainRun, error) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if cd.closed {
		return platform.ChainRun{}, fmt.Errorf("run chain %s: %w", cd.c.Name, errClosed)
	}
	if name == "" || strings.Contains(name, "/") || stem(name) == "" || timeout <= 0 {
		return platform.ChainRun{}, fmt.Errorf("run chain %s: bad run name %q or timeout %v", cd.c.Name, name, timeout)
	}
	wait := cd.p.opts.Backoff
	for attempt := 1; ; attempt++ {
		run, err := cd.run(ctx, name, data, timeout)
		if err != nil {
			return run, fmt.Errorf("run chain %s: %w", cd.c.Name, err)
		}
		if !cd.policyPending(run) || attempt >= cd.p.opts.Attempts {
			return run, nil
		}
		cd.p.log.Debug("a stage was denied access to the chain's bucket while IAM applies the role policy; running again",
			"chain", cd.c.Name, "run", name, "wait", wait)
		if err := cd.forget(ctx, name); err != nil {
			return run, fmt.Errorf("run chain %s: %w", cd.c.Name, err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return run, context.Cause(ctx)
		}
		wait = min(2*wait, 20*time.Second)
	}
}

// policyPending says run ended at a stage denied access to the bucket
// while the role policy faaslab put may not be in effect yet.
func (cd *chainDeployment) policyPending(run platform.ChainRun) bool {
	if cd.policy == "" || time.Since(cd.policyAt) > policyWait || len(run.Stages) == 0 {
		return false
	}
	inv := run.Stages[len(run.Stages)-1].Invocation
	return inv.Status != platform.StatusOK && strings.Contains(inv.ErrorType+" "+inv.ErrorMessage, "AccessDenied")
}

// forget deletes the objects of run name, so that it can be made again.
func (cd *chainDeployment) forget(ctx context.Context, name string) error {
	for _, prefix := range cd.c.Prefixes {
		objs, err := cd.list(ctx, prefix+stem(name), stem(name))
		if err != nil {
			return err
		}
		for _, o := range objs {
			err := cd.p.retry(ctx, "delete "+o.Key, func() error {
				_, err := cd.p.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &cd.bucket, Key: &o.Key})
				return err
			})
			if err != nil {
				return withInfrastructure(err)
			}
		}
	}
	return nil
}

// stageState is what a run knows of one stage.
type stageState struct {
	inv    *logInvocation   // its invocation for the run, once seen
	output *platform.Object // its output object, once seen
}

func (cd *chainDeployment) run(ctx context.Context, name string, data []byte, timeout time.Duration) (platform.ChainRun, error) {
	p := cd.p
	if cd.runs > 0 {
		for _, d := range cd.stages {
			if d.fn.Cold {
				if err := d.renew(ctx); err != nil {
					return platform.ChainRun{}, withInfrastructure(err)
				}
			}
		}
	}
	cd.runs++
	key := cd.c.Prefixes[0] + name
	runStem := stem(name)
	sent := time.Now()
	err := p.retry(ctx, "upload "+key+" to bucket "+cd.bucket, func() error {
		_, err := p.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &cd.bucket, Key: &key, Body: strings.NewReader(string(data)),
			ContentLength: sdkaws.Int64(int64(len(data)))})
		return err
	})
	if err != nil {
		return platform.ChainRun{}, withInfrastructure(err)
	}
	put := time.Now().UTC()
	since := sent.Add(-logSkew)
	deadline := sent.Add(timeout)
	n := len(cd.stages)
	st := make([]stageState, n)
	run := platform.ChainRun{Uploaded: put}
	// frontier is the first stage whose output is not seen yet.
	frontier := 0
	var settledAt time.Time
	late := -1 // the frontier when the timeout passed
	wait := p.opts.Poll
	for {
		// Objects first, then logs: an invocation whose REPORT is seen
		// wrote its output before that listing.
		for frontier < n {
			o, err := cd.output(ctx, frontier, runStem, false)
			if err != nil {
				return run, err
			}
			if o == nil {
				break
			}
			st[frontier].output = o
			frontier++
		}
		for i := 0; i <= min(frontier, n-1); i++ {
			if st[i].inv != nil && st[i].inv.finished() {
				continue
			}
			invs, err := p.readLog(ctx, cd.stages[i].name, since)
			if err != nil {
				return run, err
			}
			st[i].inv = cd.match(i, invs, runStem)
		}
		// The first stage that ended the run, if any.
		end := -1
		for i := 0; i <= min(frontier, n-1); i++ {
			li := st[i].inv
			if li == nil || !li.finished() {
				continue
			}
			if li.failed() || li.line != nil && li.line.Record.Error != nil {
				end = i
				break
			}
			if st[i].output == nil && i == frontier {
				// It returned without an output; list the whole
				// prefix once, in case it wrote under a folder.
				o, err := cd.output(ctx, i, runStem, true)
				if err != nil {
					return run, err
				}
				if o == nil {
					end = i
					break
				}
				st[i].output = o
				frontier++
			}
		}
		// The run is settled when a stage ended it, the last output
		// appeared, or the timeout passed; then the REPORTs of the
		// stages reached are awaited.
		now := time.Now()
		if late < 0 && end < 0 && frontier < n && now.After(deadline) {
			late = frontier
		}
		reached, timedOut := -1, late >= 0
		switch {
		case timedOut:
			// The stage at the frontier when the timeout passed is in
			// the run when it was invoked.
			reached = late
			if st[late].inv != nil {
				reached++
			}
		case end >= 0:
			reached = end + 1
		case frontier == n:
			reached = n
		}
		if reached >= 0 {
			if settledAt.IsZero() {
				settledAt = now
			}
			missing := cd.unreported(st[:reached])
			if timedOut {
				missing = cd.unreported(st[:late]) // the frontier stage may still run
			}
			if len(missing) == 0 {
				if timedOut && reached > late {
					st[late].output = nil // not within the timeout
				}
				return cd.result(run, st[:reached], timedOut, runStem, sent), nil
			}
			if now.After(settledAt.Add(reportWait)) {
				return run, fmt.Errorf("%w: no REPORT and faaslab line of the run's invocation in %v after %v", platform.ErrInfrastructure,
					missing, reportWait)
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return run, context.Cause(ctx)
		}
		wait = min(2*wait, pollMax)
	}
}

// unreported names the log groups of stages whose REPORT is missing.
func (cd *chainDeployment) unreported(st []stageState) []string {
	var groups []string
	for i, s := range st {
		if s.inv == nil || !s.inv.finished() {
			groups = append(groups, LogGroup(cd.stages[i].name))
		}
	}
	return groups
}

// match picks stage i's invocation for the run from its log: the one
// whose wrapper line names an object of the run under the stage's input
// prefix; failing that (the handler never returned), the first
// invocation no earlier run accounted for that failed, or is still
// running, with no wrapper line.
func (cd *chainDeployment) match(i int, invs []*logInvocation, runStem string) *logInvocation {
	for _, li := range invs {
		if li.line == nil || cd.seen[i][li.requestID] {
			continue // an earlier attempt's (see Run) when seen
		}
		for _, o := range li.line.Objects {
			k := objectKey(o[0])
			if strings.HasPrefix(k, cd.c.Prefixes[i]) && stem(k) == runStem {
				return li
			}
		}
	}
	var running *logInvocation
	for _, li := range invs {
		if li.line != nil || li.requestID == "" || cd.seen[i][li.requestID] {
			continue
		}
		if li.failed() {
			return li
		}
		if !li.finished() && running == nil {
			running = li
		}
	}
	return running
}

// objectKey is an event's object key as stored: S3 URL-encodes keys in
// notifications (a space as "+").
func objectKey(k string) string {
	if u, err := url.QueryUnescape(k); err == nil {
		return u
	}
	return k
}

// output finds stage i's output object for the run: under the stage's
// output prefix, named with the run's stem (whole lists the entire
// prefix, for an object in a folder under it).
func (cd *chainDeployment) output(ctx context.Context, i int, runStem string, whole bool) (*platform.Object, error) {
	prefix := cd.c.Prefixes[i+1]
	if !whole {
		prefix += runStem
	}
	objs, err := cd.list(ctx, prefix, runStem)
	if err != nil || len(objs) == 0 {
		return nil, err
	}
	return &objs[0], nil
}

// list lists the objects under prefix whose stem is want.
func (cd *chainDeployment) list(ctx context.Context, prefix, want string) ([]platform.Object, error) {
	var objs []platform.Object
	pages := s3.NewListObjectsV2Paginator(cd.p.s3, &s3.ListObjectsV2Input{Bucket: &cd.bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		var page *s3.ListObjectsV2Output
		err := cd.p.retry(ctx, "list "+prefix+" in bucket "+cd.bucket, func() error {
			var err error
			page, err = pages.NextPage(ctx)
			return err
		})
		if err != nil {
			return nil, withInfrastructure(err)
		}
		for _, o := range page.Contents {
			k := sdkaws.ToString(o.Key)
			if stem(k) == want {
				objs = append(objs, platform.Object{Key: k, Size: sdkaws.ToInt64(o.Size), Modified: sdkaws.ToTime(o.LastModified).UTC()})
			}
		}
	}
	return objs, nil
}

// result completes run with the stages reached, their invocations and
// the objects' times (see above), and marks their requests as seen.
func (cd *chainDeployment) result(run platform.ChainRun, reached []stageState, timedOut bool, runStem string, sent time.Time) platform.ChainRun {
	run.TimedOut = timedOut
	if len(reached) > 0 && reached[0].inv != nil {
		if t, ok := eventTime(reached[0].inv, cd.c.Prefixes[0]); ok {
			run.Uploaded = t
		}
	}
	for i, s := range reached {
		var cs platform.ChainStage
		if s.inv != nil {
			if s.inv.requestID != "" {
				cd.seen[i][s.inv.requestID] = true
			}
			cs.Invocation = s.inv.invocation(cd.stages[i].fn)
			if !s.inv.finished() && s.inv.requestID != "" {
				start := s.inv.start
				if start.IsZero() {
					start = time.Now()
				}
				cd.running = append(cd.running, runningInvocation{stage: i, requestID: s.inv.requestID, stem: runStem,
					since: start.Add(-logSkew), until: start.Add(cd.stages[i].fn.Timeout + logSkew + reportWait)})
			}
			if !s.inv.finished() && s.inv.line == nil {
				cs.Invocation.Status = platform.StatusTimeout
				cs.Invocation.ErrorType = "faaslab.RunTimeout"
				cs.Invocation.ErrorMessage = "the stage had not finished when the run's timeout passed"
			}
		}
		if s.output != nil && cs.Invocation.Status == platform.StatusOK {
			o := *s.output
			switch {
			case i+1 < len(reached) && reached[i+1].inv != nil:
				if t, ok := eventTime(reached[i+1].inv, cd.c.Prefixes[i+1]); ok {
					o.Modified = t
				}
			case i+1 == len(cd.stages) && s.inv != nil && s.inv.line != nil:
				o.Modified = s.inv.lineAt
			}
			cs.Output = &o
		}
		run.Stages = append(run.Stages, cs)
	}
	if n := len(reached); timedOut && n < len(cd.stages) && (n == 0 || reached[n-1].output != nil) {
		// Its input exists, so S3 invokes the stage at the frontier,
		// whose log showed nothing yet.
		cd.running = append(cd.running, runningInvocation{stage: n, stem: runStem, since: sent.Add(-logSkew),
			until: time.Now().Add(cd.stages[n].fn.Timeout + logSkew + reportWait)})
	}
	return run
}

// eventTime is S3's eventTime of the object under prefix that li's
// event named.
func eventTime(li *logInvocation, prefix string) (time.Time, bool) {
	if li.line == nil {
		return time.Time{}, false
	}
	for _, o := range li.line.Objects {
		if strings.HasPrefix(objectKey(o[0]), prefix) {
			t, err := time.Parse(time.RFC3339Nano, o[1])
			return t.UTC(), err == nil
		}
	}
	return time.Time{}, false
}
