package lambdafake_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
)

func client(t *testing.T) *lambda.Client {
	t.Helper()
	c, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return lambda.NewFromConfig(c, func(o *lambda.Options) { o.Retryer = sdkaws.NopRetryer{} })
}

func zipOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, text := range files {
		w, _ := zw.Create(name)
		w.Write([]byte(text))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func create(t *testing.T, c *lambda.Client, name string) {
	t.Helper()
	_, err := c.CreateFunction(context.Background(), &lambda.CreateFunctionInput{
		FunctionName: &name, Role: sdkaws.String("arn:aws:iam::" + lambdafake.Account + ":role/r"),
		Runtime: types.RuntimePython312, Handler: sdkaws.String("app.handler"),
		Code: &types.FunctionCode{ZipFile: zipOf(t, map[string]string{"app.py": "def handler(e, c):\n    return {'n': e['n'] * 2}\n"})},
	})
	if err != nil {
		t.Fatalf("CreateFunction: %v", err)
	}
}

// TestStates checks Lambda's state machine as the SDK sees it: a new
// function is Pending (invocations conflict) until it is Active, an
// update is InProgress (further updates conflict) until Successful.
func TestStates(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	lambdafake.Start(t, lambdafake.Options{Activation: 500 * time.Millisecond, Update: 500 * time.Millisecond})
	c, ctx := client(t), context.Background()
	create(t, c, "states")
	var conflict *types.ResourceConflictException
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: sdkaws.String("states"), Payload: []byte(`{"n":1}`)}); !errors.As(err, &conflict) {
		t.Errorf("invoke while pending: %v, want ResourceConflictException", err)
	}
	if err := lambda.NewFunctionActiveV2Waiter(c, func(o *lambda.FunctionActiveV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &lambda.GetFunctionInput{FunctionName: sdkaws.String("states")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: sdkaws.String("states"), Payload: []byte(`{"n":21}`), LogType: types.LogTypeTail})
	if err != nil || string(out.Payload) != `{"n":42}` || out.LogResult == nil || out.FunctionError != nil {
		t.Fatalf("invoke: %v, payload %s", err, out.Payload)
	}
	update := func() error {
		_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: sdkaws.String("states"), MemorySize: sdkaws.Int32(1024)})
		return err
	}
	if err := update(); err != nil {
		t.Fatal(err)
	}
	if err := update(); !errors.As(err, &conflict) {
		t.Errorf("update while updating: %v, want ResourceConflictException", err)
	}
	cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: sdkaws.String("states")})
	if err != nil || cfg.LastUpdateStatus != types.LastUpdateStatusInProgress || sdkaws.ToInt32(cfg.MemorySize) != 1024 {
		t.Errorf("during the update: %v %+v", err, cfg)
	}
	if err := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &lambda.GetFunctionInput{FunctionName: sdkaws.String("states")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: sdkaws.String("states")}); err != nil {
		t.Fatal(err)
	}
	var notFound *types.ResourceNotFoundException
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: sdkaws.String("states")}); !errors.As(err, &notFound) {
		t.Errorf("get after delete: %v, want ResourceNotFoundException", err)
	}
}

// TestListAndLatency lists more functions than a page holds and checks
// that every call waits the configured latency.
func TestListAndLatency(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	s := lambdafake.Start(t, lambdafake.Options{Latency: 50 * time.Millisecond, Activation: time.Millisecond})
	c, ctx := client(t), context.Background()
	for i := 0; i < 5; i++ {
		create(t, c, fmt.Sprintf("f%d", i))
	}
	var names []string
	pages := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{MaxItems: sdkaws.Int32(2)})
	start := time.Now()
	calls := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		for _, f := range page.Functions {
			names = append(names, sdkaws.ToString(f.FunctionName))
		}
	}
	if fmt.Sprint(names) != "[f0 f1 f2 f3 f4]" || calls != 3 {
		t.Errorf("listed %v in %d pages, want f0..f4 in 3", names, calls)
	}
	if took := time.Since(start); took < time.Duration(calls)*50*time.Millisecond {
		t.Errorf("%d calls took %v, want at least the added latency each", calls, took)
	}
	if s.Calls("ListFunctions") != calls {
		t.Errorf("Calls = %d", s.Calls("ListFunctions"))
	}
}
