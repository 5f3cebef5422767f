package lambdafake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
)

// stageCode is a pipeline stage as faaslab deploys them: it copies the
// object of its S3 event under its OUTPUT_PREFIX.
const stageCode = `import os
import urllib.parse

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    rec = event["Records"][0]
    bucket = rec["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    out = os.environ["OUTPUT_PREFIX"] + key.rsplit("/", 1)[-1]
    s3.put_object(Bucket=bucket, Key=out, Body=body)
    print("copied", key, "to", out)
    return {"key": out}
`

func sdkConfig(t *testing.T) sdkaws.Config {
	t.Helper()
	c, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// summary describes invocations for a failure message.
func summary(invs []lambdafake.InvocationRecord) string {
	var b strings.Builder
	for _, r := range invs {
		fmt.Fprintf(&b, "[%s attempt %d: %s %s expired=%v event %s] ", r.RequestID, r.Attempt, r.Status, r.FunctionError, r.Expired, r.Event)
	}
	return fmt.Sprintf("%d times: %s", len(invs), b.String())
}

func apiCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// needBoto3 skips the test unless python has boto3.
func needBoto3(t *testing.T, python string) {
	t.Helper()
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Skipf("%s has no boto3: %v", python, err)
	}
}

func createStage(t *testing.T, c *lambda.Client, name, outPrefix string) string {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: &name, Role: sdkaws.String("arn:aws:iam::" + lambdafake.Account + ":role/r"),
		Runtime: types.RuntimePython312, Handler: sdkaws.String("stage.handler"), Timeout: sdkaws.Int32(60),
		Code:        &types.FunctionCode{ZipFile: zipOf(t, map[string]string{"stage.py": stageCode})},
		Environment: &types.Environment{Variables: map[string]string{"OUTPUT_PREFIX": outPrefix}},
	})
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	waitActive(t, c, name)
	return sdkaws.ToString(out.FunctionArn)
}

// waitActive waits, as Lambda's clients do, until the new function name
// leaves Pending: however short the fake's activation, a loaded host may
// run the next request first, and an invocation of a Pending function
// conflicts.
func waitActive(t *testing.T, c *lambda.Client, name string) {
	t.Helper()
	if err := lambda.NewFunctionActiveV2Waiter(c, func(o *lambda.FunctionActiveV2WaiterOptions) { o.MinDelay = 20 * time.Millisecond }).
		Wait(context.Background(), &lambda.GetFunctionInput{FunctionName: &name}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func notification(id, arn, prefix string, events ...s3types.Event) s3types.LambdaFunctionConfiguration {
	return s3types.LambdaFunctionConfiguration{Id: &id, LambdaFunctionArn: &arn, Events: events,
		Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{
			{Name: s3types.FilterRuleNamePrefix, Value: &prefix}}}}}
}

// waitObject polls for bucket/key for up to a minute.
func waitObject(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		if apiCode(err) != "NoSuchKey" || time.Now().After(deadline) {
			t.Fatalf("waiting for s3://%s/%s: %v", bucket, key, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestChain runs a two-stage pipeline through the fake with the real SDK
// clients, as faaslab's AWS platform deploys one: a bucket per chain,
// its notifications invoking each stage, REPORT lines from CloudWatch
// Logs; then deletes everything.
func TestChain(t *testing.T) {
	runChain(t, "python3")
}

// TestChainOldBotocore runs the chain with Debian 12's botocore, which
// predates AWS_ENDPOINT_URL_S3, when the host has it.
func TestChainOldBotocore(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	out, err := exec.Command("/usr/bin/python3", "-c", "import botocore; print(botocore.__version__)").Output()
	if err != nil || !strings.HasPrefix(string(out), "1.29.") {
		t.Skipf("/usr/bin/python3's botocore is %q, not 1.29", bytes.TrimSpace(out))
	}
	runChain(t, "/usr/bin/python3")
}

func runChain(t *testing.T, python string) {
	if _, err := exec.LookPath(python); err != nil {
		t.Skip("no " + python)
	}
	needBoto3(t, python)
	srv := lambdafake.Start(t, lambdafake.Options{Python: python, Activation: time.Millisecond, Update: time.Millisecond, LogPageSize: 2,
		InitTimeout: time.Minute})
	cfg := sdkConfig(t)
	lc, sc, logs := lambda.NewFromConfig(cfg), s3.NewFromConfig(cfg), cloudwatchlogs.NewFromConfig(cfg)
	ctx := context.Background()
	const bucket = "faaslab-chain-test"

	arnA := createStage(t, lc, "stage-a", "1-a/")
	arnB := createStage(t, lc, "stage-b", "2-b/")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: sdkaws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(lambdafake.Region)}}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: sdkaws.String(bucket)}); apiCode(err) != "BucketAlreadyOwnedByYou" {
		t.Errorf("CreateBucket again: %v, want BucketAlreadyOwnedByYou", err)
	}
	if _, err := sc.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: sdkaws.String(bucket)}); apiCode(err) != "NoSuchTagSet" {
		t.Errorf("GetBucketTagging before tagging: %v, want NoSuchTagSet", err)
	}
	if _, err := sc.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: sdkaws.String(bucket), Tagging: &s3types.Tagging{
		TagSet: []s3types.Tag{{Key: sdkaws.String("faaslab:study"), Value: sdkaws.String("chain")}}}}); err != nil {
		t.Fatalf("PutBucketTagging: %v", err)
	}
	tags, err := sc.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: sdkaws.String(bucket)})
	if err != nil || len(tags.TagSet) != 1 || sdkaws.ToString(tags.TagSet[0].Value) != "chain" {
		t.Errorf("GetBucketTagging: %v %+v", err, tags)
	}
	if got := srv.BucketTags(bucket); got["faaslab:study"] != "chain" {
		t.Errorf("BucketTags = %v", got)
	}

	notifications := &s3.PutBucketNotificationConfigurationInput{Bucket: sdkaws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: []s3types.LambdaFunctionConfiguration{
			notification("stage-a", arnA, "in/", "s3:ObjectCreated:*"),
			notification("stage-b", arnB, "1-a/", s3types.EventS3ObjectCreatedPut),
		}}}
	// S3 may not invoke the functions yet: the configuration is refused.
	if _, err := sc.PutBucketNotificationConfiguration(ctx, notifications); apiCode(err) != "InvalidArgument" ||
		!strings.Contains(err.Error(), "Unable to validate the following destination configurations") {
		t.Errorf("notification without permission: %v, want InvalidArgument", err)
	}
	var conflict *types.ResourceConflictException
	for _, fn := range []string{"stage-a", "stage-b"} {
		in := &lambda.AddPermissionInput{FunctionName: sdkaws.String(fn), StatementId: sdkaws.String("s3-invoke"),
			Action: sdkaws.String("lambda:InvokeFunction"), Principal: sdkaws.String("s3.amazonaws.com"),
			SourceArn: sdkaws.String("arn:aws:s3:::" + bucket), SourceAccount: sdkaws.String(lambdafake.Account)}
		if _, err := lc.AddPermission(ctx, in); err != nil {
			t.Fatalf("AddPermission %s: %v", fn, err)
		}
		if _, err := lc.AddPermission(ctx, in); !errors.As(err, &conflict) {
			t.Errorf("AddPermission twice: %v, want ResourceConflictException", err)
		}
	}
	pol, err := lc.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: sdkaws.String("stage-a")})
	if err != nil {
		t.Fatalf("GetPolicy: %v", err)
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Principal map[string]string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(sdkaws.ToString(pol.Policy)), &doc); err != nil || len(doc.Statement) != 1 ||
		doc.Statement[0].Sid != "s3-invoke" || doc.Statement[0].Principal["Service"] != "s3.amazonaws.com" ||
		doc.Statement[0].Condition["ArnLike"]["AWS:SourceArn"] != "arn:aws:s3:::"+bucket {
		t.Errorf("GetPolicy: %v %s", err, sdkaws.ToString(pol.Policy))
	}
	if _, err := sc.PutBucketNotificationConfiguration(ctx, notifications); err != nil {
		t.Fatalf("PutBucketNotificationConfiguration: %v", err)
	}
	got, err := sc.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: sdkaws.String(bucket)})
	if err != nil || len(got.LambdaFunctionConfigurations) != 2 ||
		sdkaws.ToString(got.LambdaFunctionConfigurations[1].LambdaFunctionArn) != arnB ||
		sdkaws.ToString(got.LambdaFunctionConfigurations[1].Filter.Key.FilterRules[0].Value) != "1-a/" ||
		got.LambdaFunctionConfigurations[0].Events[0] != "s3:ObjectCreated:*" {
		t.Errorf("GetBucketNotificationConfiguration: %v %+v", err, got)
	}

	// A run: the input under in/ (a key S3 URL-encodes in the event).
	key := "in/run 1+x.txt"
	if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: sdkaws.String(bucket), Key: &key,
		Body: strings.NewReader("the run's input")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if out := waitObject(t, sc, bucket, "2-b/run 1+x.txt"); string(out) != "the run's input" {
		t.Errorf("stage b's output is %q", out)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"stage-a", "stage-b"} {
		invs := srv.Invocations(fn)
		if len(invs) != 1 || !invs[0].Async || invs[0].FunctionError != "" {
			t.Fatalf("%s ran %s, want one successful asynchronous invocation", fn, summary(invs))
		}
		var ev struct {
			Records []struct {
				EventSource, AWSRegion, EventName string
				S3                                struct {
					ConfigurationID string `json:"configurationId"`
					Bucket          struct{ Name, Arn string }
					Object          struct {
						Key  string
						Size int64
						ETag string
					}
				}
			}
		}
		if err := json.Unmarshal(invs[0].Event, &ev); err != nil || len(ev.Records) != 1 {
			t.Fatalf("%s's event: %v %s", fn, err, invs[0].Event)
		}
		r := ev.Records[0]
		wantKey := map[string]string{"stage-a": "in/run+1%2Bx.txt", "stage-b": "1-a/run+1%2Bx.txt"}[fn]
		if r.EventSource != "aws:s3" || r.AWSRegion != lambdafake.Region || r.EventName != "ObjectCreated:Put" ||
			r.S3.ConfigurationID != fn || r.S3.Bucket.Name != bucket || r.S3.Bucket.Arn != "arn:aws:s3:::"+bucket ||
			r.S3.Object.Key != wantKey || r.S3.Object.Size != 15 || len(r.S3.Object.ETag) != 32 {
			t.Errorf("%s's event: %s", fn, invs[0].Event)
		}

		// The REPORT line, found in CloudWatch Logs page by page.
		group := "/aws/lambda/" + fn
		var reports []logtypes.FilteredLogEvent
		pages := cloudwatchlogs.NewFilterLogEventsPaginator(logs, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: &group, FilterPattern: sdkaws.String(`"REPORT RequestId:"`)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatalf("FilterLogEvents %s: %v", group, err)
			}
			reports = append(reports, page.Events...)
		}
		if len(reports) != 1 || !strings.HasPrefix(sdkaws.ToString(reports[0].Message), "REPORT RequestId: "+invs[0].RequestID+"\t") ||
			sdkaws.ToString(reports[0].LogStreamName) != invs[0].LogStream {
			t.Errorf("%s's REPORT lines: %+v, want the one of %s", fn, reports, invs[0].RequestID)
		}
		var all []string
		pages = cloudwatchlogs.NewFilterLogEventsPaginator(logs, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: &group, LogStreamNames: []string{invs[0].LogStream}})
		for n := 0; pages.HasMorePages(); n++ {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) > 2 {
				t.Errorf("a page of %d events, want at most LogPageSize 2", len(page.Events))
			}
			for _, e := range page.Events {
				all = append(all, sdkaws.ToString(e.Message))
			}
		}
		if len(all) != 4 || !strings.HasPrefix(all[0], "START RequestId: ") || !strings.HasPrefix(all[1], "copied ") ||
			!strings.HasPrefix(all[2], "END RequestId: ") {
			t.Errorf("%s's log: %q", fn, all)
		}
	}
	found, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: sdkaws.String("/aws/lambda/stage-b"),
		FilterPattern: sdkaws.String(`copied "1-a/run" -nothing`)})
	if err != nil || len(found.Events) != 1 {
		t.Errorf("FilterLogEvents with terms: %v %+v", err, found)
	}
	groups, err := logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: sdkaws.String("/aws/lambda/stage-")})
	if err != nil || len(groups.LogGroups) != 2 || sdkaws.ToString(groups.LogGroups[1].LogGroupName) != "/aws/lambda/stage-b" {
		t.Errorf("DescribeLogGroups: %v %+v", err, groups)
	}

	// S3 delivers at least once, and a delivery may be lost or late.
	srv.Inject(lambdafake.Fault{Op: "S3Event", Function: "stage-a", Kind: lambdafake.LoseEvent})
	if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String("in/lost.txt"),
		Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	srv.Inject(lambdafake.Fault{Op: "S3Event", Function: "stage-a", Kind: lambdafake.DuplicateEvent})
	if _, err := sc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: sdkaws.String(bucket), Key: sdkaws.String("in/twice.txt"),
		CopySource: sdkaws.String(bucket + "/in/lost.txt")}); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := srv.LostEvents(); n != 1 {
		t.Errorf("LostEvents = %d, want 1", n)
	}
	if invs := srv.Invocations("stage-a"); len(invs) != 3 || !strings.Contains(string(invs[1].Event), `"ObjectCreated:Copy"`) {
		t.Errorf("stage-a ran %s, want 3 times: the first run, and the copy twice", summary(invs))
	}
	if keys := srv.Objects(bucket, "1-a/"); fmt.Sprint(keys) != "[1-a/run 1+x.txt 1-a/twice.txt]" {
		t.Errorf("1-a/ holds %v", keys)
	}

	// Deleting: a bucket must be empty first.
	if _, err := sc.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: sdkaws.String(bucket)}); apiCode(err) != "BucketNotEmpty" {
		t.Errorf("DeleteBucket of a full bucket: %v, want BucketNotEmpty", err)
	}
	list, err := sc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: sdkaws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []s3types.ObjectIdentifier
	for _, o := range list.Contents {
		ids = append(ids, s3types.ObjectIdentifier{Key: o.Key})
	}
	if _, err := sc.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: sdkaws.String(bucket), Delete: &s3types.Delete{Objects: ids}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: sdkaws.String(bucket)}); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	if _, err := sc.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: sdkaws.String(bucket)}); apiCode(err) != "NoSuchBucket" {
		t.Errorf("GetBucketTagging after DeleteBucket: %v, want NoSuchBucket", err)
	}
	var notFound *logtypes.ResourceNotFoundException
	for _, fn := range []string{"stage-a", "stage-b"} {
		if _, err := lc.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: sdkaws.String(fn), StatementId: sdkaws.String("s3-invoke")}); err != nil {
			t.Errorf("RemovePermission: %v", err)
		}
		if _, err := lc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: sdkaws.String(fn)}); err != nil {
			t.Fatal(err)
		}
		group := "/aws/lambda/" + fn
		if _, err := logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &group}); err != nil {
			t.Fatalf("DeleteLogGroup: %v", err)
		}
		if _, err := logs.DeleteLogGroup(ctx, &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: &group}); !errors.As(err, &notFound) {
			t.Errorf("DeleteLogGroup twice: %v, want ResourceNotFoundException", err)
		}
		if _, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &group}); !errors.As(err, &notFound) {
			t.Errorf("FilterLogEvents after DeleteLogGroup: %v, want ResourceNotFoundException", err)
		}
	}
	if b, f, g := srv.Buckets(), srv.Functions(), srv.LogGroups(); len(b)+len(f)+len(g) != 0 {
		t.Errorf("left after deleting: buckets %v, functions %v, log groups %v", b, f, g)
	}
}

// TestNotificationDestinations checks S3's validation of destinations: a
// function that does not exist, or whose policy allows another bucket.
func TestNotificationDestinations(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	srv := lambdafake.Start(t, lambdafake.Options{Activation: time.Millisecond})
	cfg := sdkConfig(t)
	lc, sc := lambda.NewFromConfig(cfg), s3.NewFromConfig(cfg)
	ctx := context.Background()
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: sdkaws.String("bkt-1")}); err != nil {
		t.Fatal(err)
	}
	create(t, lc, "f")
	arn := "arn:aws:lambda:" + lambdafake.Region + ":" + lambdafake.Account + ":function:"
	put := func(fn string) error {
		_, err := sc.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: sdkaws.String("bkt-1"),
			NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: []s3types.LambdaFunctionConfiguration{
				notification("n", arn+fn, "", s3types.EventS3ObjectCreated)}}})
		return err
	}
	if err := put("missing"); apiCode(err) != "InvalidArgument" {
		t.Errorf("a missing function: %v, want InvalidArgument", err)
	}
	if _, err := lc.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: sdkaws.String("f"), StatementId: sdkaws.String("other"),
		Action: sdkaws.String("lambda:InvokeFunction"), Principal: sdkaws.String("s3.amazonaws.com"),
		SourceArn: sdkaws.String("arn:aws:s3:::other-bucket")}); err != nil {
		t.Fatal(err)
	}
	if err := put("f"); apiCode(err) != "InvalidArgument" {
		t.Errorf("a policy for another bucket: %v, want InvalidArgument", err)
	}
	if _, err := lc.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: sdkaws.String("f"), StatementId: sdkaws.String("any-b"),
		Action: sdkaws.String("lambda:InvokeFunction"), Principal: sdkaws.String("s3.amazonaws.com"),
		SourceArn: sdkaws.String("arn:aws:s3:::b*")}); err != nil {
		t.Fatal(err)
	}
	if err := put("f"); err != nil {
		t.Errorf("a policy for b*: %v", err)
	}
	// Faults on S3 and CloudWatch Logs calls.
	srv.Inject(lambdafake.Fault{Op: "PutBucketTagging", Kind: lambdafake.AccessDenied})
	if _, err := sc.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: sdkaws.String("bkt-1"),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{}}}); apiCode(err) != "AccessDenied" {
		t.Errorf("PutBucketTagging with a fault: %v, want AccessDenied", err)
	}
	srv.Inject(lambdafake.Fault{Op: "DescribeLogGroups", Kind: lambdafake.AccessDenied})
	logs := cloudwatchlogs.NewFromConfig(cfg)
	if _, err := logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("DescribeLogGroups with a fault: %v, want AccessDeniedException", err)
	}
	var notFound *types.ResourceNotFoundException
	if _, err := lc.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: sdkaws.String("f"), StatementId: sdkaws.String("nope")}); !errors.As(err, &notFound) {
		t.Errorf("RemovePermission of no statement: %v, want ResourceNotFoundException", err)
	}
	if _, err := lc.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: sdkaws.String("missing")}); !errors.As(err, &notFound) {
		t.Errorf("GetPolicy of no function: %v, want ResourceNotFoundException", err)
	}
}

// TestAsyncRetries checks asynchronous invocation of a failing function:
// retries per its event invoke configuration, the same request id on
// every attempt, and events discarded past their maximum age.
func TestAsyncRetries(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	srv := lambdafake.Start(t, lambdafake.Options{Activation: time.Millisecond, Update: time.Millisecond,
		RetryDelay: time.Second, EventAgeUnit: 10 * time.Millisecond, InitTimeout: time.Minute})
	c, ctx := client(t), context.Background()
	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: sdkaws.String("flaky"), Role: sdkaws.String("arn:aws:iam::" + lambdafake.Account + ":role/r"),
		Runtime: types.RuntimePython312, Handler: sdkaws.String("app.handler"),
		Code: &types.FunctionCode{ZipFile: zipOf(t, map[string]string{"app.py": "def handler(e, c):\n    raise ValueError('flaky')\n"})},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "flaky")
	fn := sdkaws.String("flaky")
	var notFound *types.ResourceNotFoundException
	if _, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: fn}); !errors.As(err, &notFound) {
		t.Errorf("GetFunctionEventInvokeConfig of none: %v, want ResourceNotFoundException", err)
	}
	if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: fn,
		MaximumRetryAttempts: sdkaws.Int32(3)}); apiCode(err) != "ValidationException" {
		t.Errorf("3 retries: %v, want ValidationException", err)
	}
	// Lambda's SDK validates nothing of these ranges itself; the fake does.
	put, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: fn,
		MaximumRetryAttempts: sdkaws.Int32(1)})
	if err != nil || sdkaws.ToInt32(put.MaximumRetryAttempts) != 1 || put.LastModified == nil ||
		!strings.HasSuffix(sdkaws.ToString(put.FunctionArn), ":function:flaky:$LATEST") {
		t.Fatalf("PutFunctionEventInvokeConfig: %v %+v", err, put)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: fn, InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"n":1}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Invoke Event: %v %+v", err, out)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	invs := srv.Invocations("flaky")
	if len(invs) != 2 || invs[0].Attempt != 1 || invs[1].Attempt != 2 || invs[0].RequestID != invs[1].RequestID ||
		invs[1].FunctionError != "Unhandled" || string(invs[1].Event) != `{"n":1}` {
		t.Errorf("attempts %s, want 2 failed attempts of one request", summary(invs))
	}

	// With the default 2 retries, but a 60 s (here 600 ms) age limit: the
	// first retry comes too late.
	if _, err := c.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: fn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: fn,
		MaximumEventAgeInSeconds: sdkaws.Int32(60)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetFunctionEventInvokeConfig(ctx, &lambda.GetFunctionEventInvokeConfigInput{FunctionName: fn})
	if err != nil || got.MaximumRetryAttempts != nil || sdkaws.ToInt32(got.MaximumEventAgeInSeconds) != 60 {
		t.Errorf("GetFunctionEventInvokeConfig: %v %+v", err, got)
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: fn, InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	invs = srv.Invocations("flaky")[2:]
	if len(invs) != 2 || invs[0].Expired || !invs[1].Expired || invs[1].Attempt != 2 {
		t.Errorf("attempts %s, want one failed attempt and an expired retry", summary(invs))
	}
	// Every attempt that ran wrote its REPORT line.
	reports := 0
	for _, m := range srv.LogEvents("/aws/lambda/flaky") {
		if strings.HasPrefix(m, "REPORT RequestId: ") {
			reports++
		}
	}
	if reports != 3 {
		t.Errorf("%d REPORT lines, want 3", reports)
	}
}

// TestRolePolicies checks IAM's inline role policies and DeleteRole's
// refusal of a role that still has one.
func TestRolePolicies(t *testing.T) {
	srv := lambdafake.Start(t, lambdafake.Options{})
	c, ctx := iam.NewFromConfig(sdkConfig(t)), context.Background()
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: sdkaws.String("chain-role"),
		AssumeRolePolicyDocument: sdkaws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::faaslab-*/*"}]}`
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: sdkaws.String("chain-role"), PolicyName: sdkaws.String("s3"),
		PolicyDocument: &doc}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: sdkaws.String("no-role"), PolicyName: sdkaws.String("s3"),
		PolicyDocument: &doc}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("PutRolePolicy on no role: %v, want NoSuchEntity", err)
	}
	got, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: sdkaws.String("chain-role"), PolicyName: sdkaws.String("s3")})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := url.QueryUnescape(sdkaws.ToString(got.PolicyDocument)); err != nil || d != doc {
		t.Errorf("GetRolePolicy's document %q (%v), want %q URL-encoded", sdkaws.ToString(got.PolicyDocument), err, doc)
	}
	list, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: sdkaws.String("chain-role")})
	if err != nil || fmt.Sprint(list.PolicyNames) != "[s3]" {
		t.Errorf("ListRolePolicies: %v %+v", err, list)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: sdkaws.String("chain-role")}); apiCode(err) != "DeleteConflict" {
		t.Errorf("DeleteRole with an inline policy: %v, want DeleteConflict", err)
	}
	if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: sdkaws.String("chain-role"), PolicyName: sdkaws.String("s3")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: sdkaws.String("chain-role"), PolicyName: sdkaws.String("s3")}); apiCode(err) != "NoSuchEntity" {
		t.Errorf("DeleteRolePolicy twice: %v, want NoSuchEntity", err)
	}
	if _, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: sdkaws.String("chain-role")}); err != nil {
		t.Fatal(err)
	}
	if r := srv.Roles(); len(r) != 0 {
		t.Errorf("roles left: %v", r)
	}
}

// TestEventFilters checks which writes S3 reports to which function:
// event types (Put, Copy, CompleteMultipartUpload), prefix and suffix
// rules; and the JSON log format's REPORT records, found by a JSON
// filter pattern.
func TestEventFilters(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	srv := lambdafake.Start(t, lambdafake.Options{Activation: time.Millisecond, InitTimeout: time.Minute})
	cfg := sdkConfig(t)
	lc, sc, logs := lambda.NewFromConfig(cfg), s3.NewFromConfig(cfg), cloudwatchlogs.NewFromConfig(cfg)
	ctx := context.Background()
	out, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: sdkaws.String("echo"), Role: sdkaws.String("arn:aws:iam::" + lambdafake.Account + ":role/r"),
		Runtime: types.RuntimePython312, Handler: sdkaws.String("app.handler"),
		Code:          &types.FunctionCode{ZipFile: zipOf(t, map[string]string{"app.py": "def handler(e, c):\n    return e\n"})},
		LoggingConfig: &types.LoggingConfig{LogFormat: types.LogFormatJson},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: sdkaws.String("echo"), StatementId: sdkaws.String("s3"),
		Action: sdkaws.String("lambda:InvokeFunction"), Principal: sdkaws.String("s3.amazonaws.com")}); err != nil {
		t.Fatal(err)
	}
	bucket := sdkaws.String("filters")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	n := notification("copies-and-uploads", sdkaws.ToString(out.FunctionArn), "up/",
		s3types.EventS3ObjectCreatedCopy, s3types.EventS3ObjectCreatedCompleteMultipartUpload)
	n.Filter.Key.FilterRules = append(n.Filter.Key.FilterRules, s3types.FilterRule{Name: s3types.FilterRuleNameSuffix, Value: sdkaws.String(".txt")})
	if _, err := sc.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: bucket,
		NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: []s3types.LambdaFunctionConfiguration{n}}}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		t.Helper()
		if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: sdkaws.String(key), Body: strings.NewReader("data")}); err != nil {
			t.Fatal(err)
		}
	}
	put("up/put.txt") // a Put: not subscribed
	put("up/a.bin")   // no .txt
	put("down/b.txt") // not under up/
	if _, err := sc.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: sdkaws.String("up/copy.txt"),
		CopySource: sdkaws.String("filters/up/a.bin")}); err != nil {
		t.Fatal(err)
	}
	mp, err := sc.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: sdkaws.String("up/multi.txt")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := sc.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: sdkaws.String("up/multi.txt"), UploadId: mp.UploadId,
		PartNumber: sdkaws.Int32(1), Body: strings.NewReader("one part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: sdkaws.String("up/multi.txt"),
		UploadId: mp.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
			{ETag: part.ETag, PartNumber: sdkaws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inv := range srv.Invocations("echo") {
		var ev struct {
			Records []struct {
				EventName string
				S3        struct{ Object struct{ Key string } }
			}
		}
		json.Unmarshal(inv.Event, &ev)
		for _, r := range ev.Records {
			got = append(got, r.EventName+" "+r.S3.Object.Key)
		}
	}
	if fmt.Sprint(got) != "[ObjectCreated:Copy up/copy.txt ObjectCreated:CompleteMultipartUpload up/multi.txt]" {
		t.Errorf("events delivered: %q", got)
	}
	found, err := logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: sdkaws.String("/aws/lambda/echo"),
		FilterPattern: sdkaws.String(`{ $.type = "platform.report" && $.record.status = "success" }`)})
	if err != nil || len(found.Events) != 2 || !strings.Contains(sdkaws.ToString(found.Events[0].Message), srv.Invocations("echo")[0].RequestID) {
		t.Errorf("JSON REPORT records: %v %+v", err, found)
	}
}

// TestRoleS3Access checks that a function whose role the fake knows
// reaches S3 only as far as the role's policies allow.
func TestRoleS3Access(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	needBoto3(t, "python3")
	srv := lambdafake.Start(t, lambdafake.Options{Activation: time.Millisecond, InitTimeout: time.Minute})
	cfg := sdkConfig(t)
	lc, sc, ic := lambda.NewFromConfig(cfg), s3.NewFromConfig(cfg), iam.NewFromConfig(cfg)
	ctx := context.Background()
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: sdkaws.String("stage-role"),
		AssumeRolePolicyDocument: sdkaws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: sdkaws.String("stage"), Role: role.Role.Arn,
		Runtime: types.RuntimePython312, Handler: sdkaws.String("stage.handler"), Timeout: sdkaws.Int32(60),
		Code:        &types.FunctionCode{ZipFile: zipOf(t, map[string]string{"stage.py": stageCode})},
		Environment: &types.Environment{Variables: map[string]string{"OUTPUT_PREFIX": "out/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: sdkaws.String("stage"),
		MaximumRetryAttempts: sdkaws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.AddPermission(ctx, &lambda.AddPermissionInput{FunctionName: sdkaws.String("stage"), StatementId: sdkaws.String("s3"),
		Action: sdkaws.String("lambda:InvokeFunction"), Principal: sdkaws.String("s3.amazonaws.com")}); err != nil {
		t.Fatal(err)
	}
	bucket := sdkaws.String("role-test")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: bucket,
		NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: []s3types.LambdaFunctionConfiguration{
			notification("in", sdkaws.ToString(out.FunctionArn), "in/", "s3:ObjectCreated:*")}}}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		t.Helper()
		if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: sdkaws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
		if err := srv.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The role allows no S3 call: the stage fails reading its input.
	put("in/1")
	if invs := srv.Invocations("stage"); len(invs) != 1 || invs[0].FunctionError == "" {
		t.Fatalf("stage ran %s, want one failed invocation", summary(invs))
	}
	// Reading in/ but writing only under elsewhere/: the write is refused.
	policy := func(write string) {
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::role-test/in/*"},` +
			`{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::role-test/` + write + `*"]}]}`
		if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: sdkaws.String("stage-role"), PolicyName: sdkaws.String("s3"),
			PolicyDocument: &doc}); err != nil {
			t.Fatal(err)
		}
	}
	policy("elsewhere/")
	put("in/2")
	if invs := srv.Invocations("stage"); len(invs) != 2 || invs[1].FunctionError == "" {
		t.Fatalf("stage ran %s, want a second failed invocation", summary(invs))
	}
	policy("out/")
	put("in/3")
	if invs := srv.Invocations("stage"); len(invs) != 3 || invs[2].FunctionError != "" {
		t.Fatalf("stage ran %s, want a third, successful invocation", summary(invs))
	}
	if keys := srv.Objects("role-test", ""); fmt.Sprint(keys) != "[in/1 in/2 in/3 out/3]" {
		t.Errorf("objects %v", keys)
	}
}

// TestLogDelay checks that log events become visible only after
// Options.LogDelay, as CloudWatch ingests them late.
func TestLogDelay(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	lambdafake.Start(t, lambdafake.Options{Activation: time.Millisecond, LogDelay: 3 * time.Second, InitTimeout: time.Minute})
	c, logs, ctx := client(t), cloudwatchlogs.NewFromConfig(sdkConfig(t)), context.Background()
	create(t, c, "late")
	time.Sleep(10 * time.Millisecond) // Activation
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: sdkaws.String("late"), Payload: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	filter := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: sdkaws.String("/aws/lambda/late"), FilterPattern: sdkaws.String("REPORT")}
	start := time.Now()
	out, err := logs.FilterLogEvents(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 0 && time.Since(start) < 2*time.Second {
		t.Errorf("the REPORT line is visible at once: %+v", out.Events)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, err := logs.FilterLogEvents(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no REPORT line after a minute: %+v", out.Events)
		}
	}
}
