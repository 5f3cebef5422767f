package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/faaslab/faaslab/runner/platform"
)

// Pipelines on Lambda (platform.Chainer).
//
// DeployChain creates, in the platform's region, one S3 bucket per chain
// (tagged like the functions, public access blocked), one function per
// stage through Deploy (the same package, wrapper, layers and tags as a
// single function) with OUTPUT_BUCKET and OUTPUT_PREFIX in its
// environment and no retries of failed asynchronous invocations (a
// failed stage is seen once), the Lambda permission that lets S3 invoke
// each stage from this bucket, and the bucket's notification
// configuration: objects created under Prefixes[i] invoke stage i. With
// role "create" the role gets an inline policy for exactly the bucket's
// prefixes: stages read their input prefix and write their output
// prefix. A run is followed in S3 (chainrun.go) and in the stages' logs
// (chainlog.go). Close deletes all of it, log groups included.

// maxBucketLen is S3's limit on a bucket name.
const maxBucketLen = 63

// chainPolicyPrefix starts the name of a chain's inline role policy and
// of its stages' permission statements; the bucket's name follows.
const chainPolicyPrefix = "faaslab-s3-"

// eventCreated is the S3 event type that triggers a stage.
const eventCreated = "s3:ObjectCreated:*"

// bucketUnsafe is what a bucket name may not hold.
var bucketUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// BucketName is the S3 bucket name of a chain named name in the run
// with id run: "faaslab-", the name in lowercase letters, digits and
// single hyphens (shortened, with a hash of the whole, when too long),
// the run's id and a random part; at most 63 characters, as S3 requires,
// and unique with overwhelming probability, as S3's global namespace
// requires.
func BucketName(name, run string) string {
	suffix := "-" + run + randomHex(3)
	base := strings.Trim(bucketUnsafe.ReplaceAllString(strings.ToLower(name), "-"), "-")
	room := maxBucketLen - len("faaslab-") - len(suffix)
	if len(base) > room {
		h := sha256.Sum256([]byte(name))
		base = strings.TrimRight(base[:room-9], "-") + "-" + hex.EncodeToString(h[:4])
	}
	if base == "" {
		base = "chain"
	}
	return "faaslab-" + base + suffix
}

// partition is the ARN partition of region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// chainDeployment is one deployed chain. Its lock serialises Run and
// Close.
type chainDeployment struct {
	p      *Platform
	c      platform.Chain
	bucket string
	arn    string // the bucket's ARN
	stages []*deployment
	// policy is the role's inline policy for the bucket ("" when the
	// role is the user's), put at policyAt.
	policy   string
	policyAt time.Time

	mu     sync.Mutex
	runs   int
	closed bool
	// seen holds, per stage, the request ids that earlier runs
	// accounted for, so that a later run never takes one for its own.
	seen []map[string]bool
	// running are invocations that runs past their timeout left
	// running; Close waits for them before deleting log groups, which
	// their last lines would make again.
	running []runningInvocation
}

// runningInvocation is an invocation of stage, for the run named by
// stem, that may run until until; its request id is "" when its log
// showed nothing of it yet.
type runningInvocation struct {
	stage     int
	requestID string
	stem      string
	since     time.Time
	until     time.Time
}

var _ platform.ChainDeployment = (*chainDeployment)(nil)

// checkChain checks c's shape: a prefix per stage and one for the last
// output, none empty, none an IAM wildcard, and no stage's trigger
// prefix holding another prefix of the chain (S3 refuses overlapping
// notifications, and an output under a trigger would loop).
func checkChain(c platform.Chain) error {
	n := len(c.Stages)
	switch {
	case c.Name == "":
		return fmt.Errorf("chain has no name")
	case n == 0:
		return fmt.Errorf("chain %s has no stages", c.Name)
	case len(c.Prefixes) != n+1:
		return fmt.Errorf("chain %s: %d prefixes for %d stages, want %d", c.Name, len(c.Prefixes), n, n+1)
	}
	for i, p := range c.Prefixes {
		if p == "" || strings.ContainsAny(p, "*?$") || strings.HasPrefix(p, "/") || len(p) > 512 {
			return fmt.Errorf("chain %s: prefix %d %q: want a non-empty key prefix without * ? $ or a leading /", c.Name, i, p)
		}
	}
	for i := range n {
		for j, q := range c.Prefixes {
			if i != j && strings.HasPrefix(q, c.Prefixes[i]) {
				return fmt.Errorf("chain %s: prefix %d %q lies under stage %d's trigger prefix %q", c.Name, j, q, i, c.Prefixes[i])
			}
		}
	}
	return nil
}

// DeployChain creates c's bucket, stage functions, permissions and
// notifications (see above). On failure it deletes what it created.
func (p *Platform) DeployChain(ctx context.Context, c platform.Chain) (platform.ChainDeployment, error) {
	if err := checkChain(c); err != nil {
		return nil, fmt.Errorf("deploy chain: %w", err)
	}
	bucket := BucketName(c.Name, p.run)
	cd := &chainDeployment{p: p, c: c, bucket: bucket, arn: "arn:" + partition(p.region) + ":s3:::" + bucket,
		seen: make([]map[string]bool, len(c.Stages))}
	for i := range cd.seen {
		cd.seen[i] = map[string]bool{}
	}
	p.poolMu.Lock()
	if p.chains == nil {
		p.chains = map[*chainDeployment]bool{}
	}
	p.chains[cd] = true
	p.poolMu.Unlock()
	if err := cd.deploy(ctx); err != nil {
		if cerr := cd.Close(context.WithoutCancel(ctx)); cerr != nil {
			p.log.Warn("deleting a chain that failed to deploy", "chain", c.Name, "error", cerr)
		}
		return nil, fmt.Errorf("deploy chain %s: %w", c.Name, err)
	}
	return cd, nil
}

func (cd *chainDeployment) deploy(ctx context.Context) error {
	p := cd.p
	if err := cd.createBucket(ctx); err != nil {
		return err
	}
	if p.iam != nil {
		if err := cd.putRolePolicy(ctx); err != nil {
			return err
		}
	}
	for i, fn := range cd.c.Stages {
		fn.Env = maps.Clone(fn.Env)
		if fn.Env == nil {
			fn.Env = map[string]string{}
		}
		fn.Env[platform.EnvOutputBucket] = cd.bucket
		fn.Env[platform.EnvOutputPrefix] = cd.c.Prefixes[i+1]
		tags := maps.Clone(cd.c.Tags)
		if tags == nil {
			tags = map[string]string{}
		}
		maps.Copy(tags, fn.Tags)
		fn.Tags = tags
		fn.S3 = nil // S3 itself serves the stage
		dep, err := p.Deploy(ctx, fn)
		if err != nil {
			return err
		}
		d := dep.(*deployment)
		cd.stages = append(cd.stages, d)
		if err := cd.connect(ctx, d); err != nil {
			return err
		}
	}
	return cd.notify(ctx)
}

// createBucket creates the chain's bucket in the platform's region,
// tags it, and blocks public access to it.
func (cd *chainDeployment) createBucket(ctx context.Context) error {
	p := cd.p
	in := &s3.CreateBucketInput{Bucket: &cd.bucket}
	if p.region != "us-east-1" {
		// us-east-1 is S3's default and refuses to be named.
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{
			LocationConstraint: s3types.BucketLocationConstraint(p.region)}
	}
	err := p.retry(ctx, "create bucket "+cd.bucket, func() error {
		_, err := p.s3.CreateBucket(ctx, in)
		var mine *s3types.BucketAlreadyOwnedByYou
		if errors.As(err, &mine) {
			return nil // an earlier attempt created it
		}
		return err
	})
	if err != nil {
		return err
	}
	tags := []s3types.Tag{{Key: sdkaws.String(TagManaged), Value: sdkaws.String("true")}}
	for k, v := range cd.c.Tags {
		if v != "" && k != TagManaged {
			tags = append(tags, s3types.Tag{Key: sdkaws.String(k), Value: sdkaws.String(v)})
		}
	}
	err = p.retry(ctx, "tag bucket "+cd.bucket, func() error {
		_, err := p.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &cd.bucket,
			Tagging: &s3types.Tagging{TagSet: tags}})
		return err
	})
	if err != nil {
		return err
	}
	// New buckets block public access already (S3's default since
	// 2023); saying so costs one call and does not depend on it.
	t := sdkaws.Bool(true)
	return p.retry(ctx, "block public access to bucket "+cd.bucket, func() error {
		_, err := p.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: &cd.bucket,
			PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
				BlockPublicAcls: t, BlockPublicPolicy: t, IgnorePublicAcls: t, RestrictPublicBuckets: t}})
		if apiCode(err) == "NotImplemented" {
			// An S3-compatible store without the setting has no public
			// access to block.
			p.log.Debug("the S3 endpoint does not block public access", "bucket", cd.bucket)
			return nil
		}
		return err
	})
}

// statementID is the id of the permission that lets the chain's bucket
// invoke a stage.
func (cd *chainDeployment) statementID() string { return chainPolicyPrefix + cd.bucket }

// functionARN is the ARN of the function named name.
func (p *Platform) functionARN(name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", partition(p.region), p.region, p.account, name)
}

// connect turns off d's retries of failed asynchronous invocations and
// lets the chain's bucket, in the caller's account, invoke it.
func (cd *chainDeployment) connect(ctx context.Context, d *deployment) error {
	p := cd.p
	err := p.retry(ctx, "configure asynchronous invocations of "+d.name, func() error {
		_, err := p.lambda.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{
			FunctionName: &d.name, MaximumRetryAttempts: sdkaws.Int32(0)})
		return err
	})
	if err != nil {
		return err
	}
	in := &lambda.AddPermissionInput{FunctionName: &d.name, StatementId: sdkaws.String(cd.statementID()),
		Action: sdkaws.String("lambda:InvokeFunction"), Principal: sdkaws.String("s3.amazonaws.com"),
		SourceArn: &cd.arn, SourceAccount: sdkaws.String(p.account)}
	return p.retry(ctx, "let bucket "+cd.bucket+" invoke "+d.name, func() error {
		_, err := p.lambda.AddPermission(ctx, in)
		var conflict *lambdatypes.ResourceConflictException
		if errors.As(err, &conflict) && strings.Contains(sdkMessage(err), "already exists") {
			return nil // an earlier attempt added it
		}
		return err
	})
}

// notify makes objects created under Prefixes[i] invoke stage i.
func (cd *chainDeployment) notify(ctx context.Context) error {
	p := cd.p
	var configs []s3types.LambdaFunctionConfiguration
	for i, d := range cd.stages {
		configs = append(configs, s3types.LambdaFunctionConfiguration{
			Id:                sdkaws.String(fmt.Sprintf("stage-%d", i)),
			LambdaFunctionArn: sdkaws.String(p.functionARN(d.name)),
			Events:            []s3types.Event{eventCreated},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{
				{Name: s3types.FilterRuleNamePrefix, Value: sdkaws.String(cd.c.Prefixes[i])}}}},
		})
	}
	return p.retry(ctx, "configure notifications of bucket "+cd.bucket, func() error {
		_, err := p.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: &cd.bucket, NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: configs}})
		if apiCode(err) == "InvalidArgument" && strings.Contains(sdkMessage(err), "validate") {
			// S3 checks each function's permission, which Lambda may
			// not show it yet.
			return transientError{err}
		}
		return err
	})
}

// putRolePolicy lets the created role's functions read the stages'
// input prefixes and write their output prefixes of the chain's bucket,
// and nothing else of S3. IAM takes a while to apply it everywhere (see
// Run).
func (cd *chainDeployment) putRolePolicy(ctx context.Context) error {
	p := cd.p
	type statement struct {
		Effect   string
		Action   string
		Resource []string
	}
	var get, put []string
	for i, prefix := range cd.c.Prefixes {
		r := cd.arn + "/" + prefix + "*"
		if i < len(cd.c.Stages) {
			get = append(get, r)
		}
		if i > 0 {
			put = append(put, r)
		}
	}
	doc, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []statement{
		{"Allow", "s3:GetObject", get}, {"Allow", "s3:PutObject", put}}})
	if err != nil {
		return err
	}
	name, role := chainPolicyPrefix+cd.bucket, RoleName(p.opts.Config.Study)
	err = p.retry(ctx, "let role "+role+" use bucket "+cd.bucket, func() error {
		_, err := p.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &role, PolicyName: &name,
			PolicyDocument: sdkaws.String(string(doc))})
		return err
	})
	if err != nil {
		return err
	}
	cd.policy, cd.policyAt = name, time.Now()
	return nil
}

// Get reads an object of the chain's bucket.
func (cd *chainDeployment) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := cd.p.retry(ctx, "get "+key+" from bucket "+cd.bucket, func() error {
		out, err := cd.p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &cd.bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		data, err = io.ReadAll(out.Body)
		return err
	})
	return data, err
}

// Close deletes the chain: notifications first, so that nothing more
// is invoked, then the objects and the bucket, the role policy, the
// permissions and the stage functions (never kept for reuse: their
// configuration names this bucket), and the log groups Lambda made for
// them. What is gone already is no error, so Close can be repeated
// until it succeeds.
func (cd *chainDeployment) Close(ctx context.Context) error {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if cd.closed {
		return nil
	}
	p := cd.p
	var errs []error
	if err := p.deleteBucket(ctx, cd.bucket); err != nil {
		errs = append(errs, err)
	}
	if cd.policy != "" {
		if err := p.deleteRolePolicy(ctx, cd.policy); err != nil {
			errs = append(errs, err)
		} else {
			cd.policy = ""
		}
	}
	var stopped []*deployment
	for _, d := range cd.stages {
		err := p.retry(ctx, "remove the permission of bucket "+cd.bucket+" from "+d.name, func() error {
			_, err := p.lambda.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: &d.name,
				StatementId: sdkaws.String(cd.statementID())})
			if isNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.mu.Lock()
		d.closed = true
		err = d.delete(ctx)
		d.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, d)
	}
	cd.waitRunning(ctx)
	for _, d := range stopped {
		if err := p.deleteLogGroup(ctx, d.name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("close chain %s: %w", cd.c.Name, errors.Join(errs...))
	}
	cd.closed = true
	p.poolMu.Lock()
	delete(p.chains, cd)
	p.poolMu.Unlock()
	return nil
}

// deleteBucket deletes bucket with its notification configuration and
// every object in it; a bucket already gone is no error.
func (p *Platform) deleteBucket(ctx context.Context, bucket string) error {
	err := p.retry(ctx, "remove the notifications of bucket "+bucket, func() error {
		_, err := p.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: &bucket, NotificationConfiguration: &s3types.NotificationConfiguration{}})
		return err
	})
	if s3Gone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pages := s3.NewListObjectsV2Paginator(p.s3, &s3.ListObjectsV2Input{Bucket: &bucket})
	for pages.HasMorePages() {
		var page *s3.ListObjectsV2Output
		err := p.retry(ctx, "list bucket "+bucket, func() error {
			var err error
			page, err = pages.NextPage(ctx)
			return err
		})
		if s3Gone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []s3types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, s3types.ObjectIdentifier{Key: o.Key})
		}
		err = p.retry(ctx, "delete the objects of bucket "+bucket, func() error {
			out, err := p.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket,
				Delete: &s3types.Delete{Objects: ids, Quiet: sdkaws.Bool(true)}})
			if err == nil && len(out.Errors) > 0 {
				e := out.Errors[0]
				err = fmt.Errorf("%d objects not deleted, first %s: %s %s", len(out.Errors),
					sdkaws.ToString(e.Key), sdkaws.ToString(e.Code), sdkaws.ToString(e.Message))
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	err = p.retry(ctx, "delete bucket "+bucket, func() error {
		_, err := p.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
		return err
	})
	if s3Gone(err) {
		return nil
	}
	return err
}

// deleteRolePolicy deletes the study role's inline policy name; one
// already gone is no error.
func (p *Platform) deleteRolePolicy(ctx context.Context, name string) error {
	role := RoleName(p.opts.Config.Study)
	return p.retry(ctx, "delete policy "+name+" of role "+role, func() error {
		_, err := p.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &role, PolicyName: &name})
		if isNotFound(err) {
			return nil
		}
		return err
	})
}

// LogGroup is the log group Lambda writes function's logs to.
func LogGroup(function string) string { return "/aws/lambda/" + function }

// deleteLogGroup deletes the log group of function, which Lambda keeps
// after the function is deleted; one that does not exist (a function
// never invoked) is no error.
func (p *Platform) deleteLogGroup(ctx context.Context, function string) error {
	group := LogGroup(function)
	return p.retry(ctx, "delete log group "+group, func() error {
		_, err := p.logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &group})
		var nf *logtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil
		}
		return err
	})
}

// apiCode is err's API error code, or "".
func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// s3Gone reports whether err says the bucket does not exist.
func s3Gone(err error) bool {
	var nb *s3types.NoSuchBucket
	return errors.As(err, &nb) || apiCode(err) == "NoSuchBucket"
}

// waitRunning waits until the invocations that runs left running have
// ended (their REPORT is in their log) or cannot be running any more
// (their function's timeout has passed), or ctx ends.
func (cd *chainDeployment) waitRunning(ctx context.Context) {
	for len(cd.running) > 0 {
		r := cd.running[0]
		if time.Now().After(r.until) {
			cd.running = cd.running[1:]
			continue
		}
		invs, err := cd.p.readLog(ctx, cd.stages[r.stage].name, r.since)
		if err != nil {
			return
		}
		li := cd.match(r.stage, invs, r.stem)
		if r.requestID != "" {
			li = nil
			for _, x := range invs {
				if x.requestID == r.requestID {
					li = x
				}
			}
		}
		if li != nil && li.finished() {
			cd.running = cd.running[1:]
			continue
		}
		select {
		case <-time.After(pollMax):
		case <-ctx.Done():
			return
		}
	}
}
