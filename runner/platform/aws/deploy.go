package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
)

// Lambda's bounds on a function's configuration.
const (
	minMemoryMB        = 128
	maxMemoryMB        = 10240
	maxTimeout         = 15 * time.Minute
	defaultEphemeralMB = 512
	maxEphemeralMB     = 10240
	maxNameLen         = 64
)

// ColdEnv is the environment variable faaslab changes before each
// invocation of a function in cold mode: any configuration change makes
// Lambda start the next invocation in a new execution environment.
const ColdEnv = "FAASLAB_COLD"

// maxWait bounds a wait for a function to become active or updated.
const maxWait = 5 * time.Minute

// reservedEnv are the variables Lambda sets itself (and refuses in a
// configuration), the credential variables, and faaslab's own.
var reservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true,
	"AWS_LAMBDA_LOG_GROUP_NAME": true, "AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
	harness.HandlerEnv: true, ColdEnv: true,
}

var (
	nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
	envName    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// deployment is one Lambda function. Its lock serialises Invoke and
// Close.
type deployment struct {
	p        *Platform
	fn       platform.Function
	name     string
	env      map[string]string
	mu       sync.Mutex
	invoked  int // invocations made, for cold mode
	closed   bool
	deployed bool // the function exists (Close deletes it)
}

var _ platform.Deployment = (*deployment)(nil)

// FunctionName is the Lambda name of a function named name in the run
// with id run: "faaslab-", the name in Lambda's alphabet (shortened, with
// a hash of the whole, when too long), the run's id and a random part, at
// most 64 characters.
func FunctionName(name, run string) string {
	suffix := "-" + run + randomHex(3)
	base := nameUnsafe.ReplaceAllString(name, "-")
	room := maxNameLen - len("faaslab-") - len(suffix)
	if len(base) > room {
		h := sha256.Sum256([]byte(name))
		base = base[:room-9] + "-" + hex.EncodeToString(h[:4])
	}
	return "faaslab-" + base + suffix
}

// Deploy creates fn's function and waits until Lambda says it is active.
// Errors about fn itself (a memory size Lambda refuses, a reserved
// variable) are plain errors; Lambda's failures that a retry may cure
// wrap platform.ErrInfrastructure.
func (p *Platform) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	if err := p.check(&fn); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", fn.Name, err)
	}
	env := map[string]string{}
	for k, v := range fn.Env {
		if reservedEnv[k] || !envName.MatchString(k) {
			return nil, fmt.Errorf("deploy %s: environment variable %q is reserved or invalid", fn.Name, k)
		}
		if containsSecret(v, p.secrets) {
			return nil, fmt.Errorf("deploy %s: environment variable %s holds one of the runner's AWS credentials", fn.Name, k)
		}
		env[k] = v
	}
	env[harness.HandlerEnv] = fn.Handler
	pkg, err := Pack(fn.CodeDir, p.secrets)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", fn.Name, err)
	}
	tags := map[string]string{TagManaged: "true"}
	for k, v := range fn.Tags {
		if v != "" {
			tags[k] = v
		}
	}
	d := &deployment{p: p, fn: fn, name: FunctionName(fn.Name, p.run), env: env}
	in := &lambda.CreateFunctionInput{
		FunctionName:     &d.name,
		Role:             &p.role,
		Runtime:          types.Runtime(fn.Runtime),
		Handler:          sdkaws.String(harness.WrapperHandler),
		Code:             &types.FunctionCode{ZipFile: pkg.Zip},
		PackageType:      types.PackageTypeZip,
		Description:      sdkaws.String("faaslab: " + fn.Name),
		MemorySize:       sdkaws.Int32(int32(fn.MemoryMB)),
		Timeout:          sdkaws.Int32(int32(fn.Timeout / time.Second)),
		Architectures:    []types.Architecture{types.Architecture(fn.Arch)},
		EphemeralStorage: &types.EphemeralStorage{Size: sdkaws.Int32(int32(fn.EphemeralMB))},
		Environment:      &types.Environment{Variables: env},
		Layers:           p.opts.Config.Layers[fn.Arch],
		Tags:             tags,
	}
	err = p.retry(ctx, "create function "+d.name, func() error {
		_, err := p.lambda.CreateFunction(ctx, in)
		var exists *types.ResourceConflictException
		if errors.As(err, &exists) && d.exists(ctx) {
			return nil // an earlier attempt created it
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", fn.Name, err)
	}
	d.deployed = true
	if err := d.waitActive(ctx); err != nil {
		d.delete(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("deploy %s: %w", fn.Name, err)
	}
	return d, nil
}

// check fills in Lambda's defaults and checks fn against its limits.
func (p *Platform) check(fn *platform.Function) error {
	if fn.Arch == "" {
		fn.Arch = "x86_64" // Lambda's default
	}
	switch {
	case fn.Name == "":
		return fmt.Errorf("function has no name")
	case fn.Handler == "" || fn.CodeDir == "":
		return fmt.Errorf("empty handler or code directory")
	case fn.Arch != "x86_64" && fn.Arch != "arm64":
		return fmt.Errorf("architecture %q: Lambda runs x86_64 and arm64", fn.Arch)
	case fn.MemoryMB < minMemoryMB || fn.MemoryMB > maxMemoryMB:
		return fmt.Errorf("memory %d MB outside Lambda's %d-%d MB", fn.MemoryMB, minMemoryMB, maxMemoryMB)
	case fn.Timeout < time.Second || fn.Timeout > maxTimeout || fn.Timeout%time.Second != 0:
		return fmt.Errorf("timeout %v: Lambda's is whole seconds from 1 s to 15 min", fn.Timeout)
	}
	if fn.EphemeralMB == 0 {
		fn.EphemeralMB = defaultEphemeralMB
	}
	if fn.EphemeralMB < defaultEphemeralMB || fn.EphemeralMB > maxEphemeralMB {
		return fmt.Errorf("ephemeral storage %d MB outside Lambda's %d-%d MB", fn.EphemeralMB, defaultEphemeralMB, maxEphemeralMB)
	}
	if fn.Runtime == "" {
		return fmt.Errorf("no runtime")
	}
	return nil
}

// exists reports whether the function is there.
func (d *deployment) exists(ctx context.Context) bool {
	_, err := d.p.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &d.name})
	return err == nil
}

// waitActive waits until Lambda has made the function ready to invoke.
func (d *deployment) waitActive(ctx context.Context) error {
	w := lambda.NewFunctionActiveV2Waiter(d.p.lambda, func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = d.p.opts.Poll, max(d.p.opts.Poll, 5*time.Second)
	})
	return d.p.retry(ctx, "wait for "+d.name+" to become active", func() error {
		return d.describeFailure(ctx, w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: &d.name}, maxWait))
	})
}

// waitUpdated waits until Lambda has applied a configuration update.
func (d *deployment) waitUpdated(ctx context.Context) error {
	w := lambda.NewFunctionUpdatedV2Waiter(d.p.lambda, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = d.p.opts.Poll, max(d.p.opts.Poll, 5*time.Second)
	})
	return d.p.retry(ctx, "wait for "+d.name+" to be updated", func() error {
		return d.describeFailure(ctx, w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: &d.name}, maxWait))
	})
}

// describeFailure adds Lambda's reason to a waiter's failure.
func (d *deployment) describeFailure(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := d.p.retryable(err); ok {
		return err
	}
	out, gerr := d.p.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: &d.name})
	if gerr != nil || out.Configuration == nil {
		return err
	}
	c := out.Configuration
	return fmt.Errorf("%w: state %s (%s), last update %s (%s)", err, c.State, sdkaws.ToString(c.StateReason),
		c.LastUpdateStatus, sdkaws.ToString(c.LastUpdateStatusReason))
}

// renew makes Lambda start the next invocation in a new execution
// environment: it changes ColdEnv and waits for the update.
func (d *deployment) renew(ctx context.Context) error {
	env := maps.Clone(d.env)
	env[ColdEnv] = strconv.Itoa(d.invoked)
	err := d.p.retry(ctx, "update "+d.name, func() error {
		_, err := d.p.lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: &d.name, Environment: &types.Environment{Variables: env}})
		return err
	})
	if err != nil {
		return err
	}
	return d.waitUpdated(ctx)
}

// Close deletes the function. It is idempotent, and a function already
// gone is no error.
func (d *deployment) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if err := d.delete(ctx); err != nil {
		return fmt.Errorf("close %s: %w", d.fn.Name, err)
	}
	return nil
}

func (d *deployment) delete(ctx context.Context) error {
	if !d.deployed {
		return nil
	}
	err := d.p.deleteFunction(ctx, d.name)
	if err == nil {
		d.deployed = false
	}
	return err
}

// deleteFunction deletes the function name; one already gone is no
// error.
func (p *Platform) deleteFunction(ctx context.Context, name string) error {
	return p.retry(ctx, "delete function "+name, func() error {
		_, err := p.lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: &name})
		if isNotFound(err) {
			return nil
		}
		return err
	})
}
