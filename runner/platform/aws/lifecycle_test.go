package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/runner/harness"
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestPreflight checks that Open fails before creating anything, with
// one message naming everything missing.
func TestPreflight(t *testing.T) {
	s := lambdafake.Start(t, lambdafake.Options{})
	cfg := platform.Config{Name: "lambda", Kind: aws.Kind, Region: lambdafake.Region, Role: testRole, Study: "s"}
	for _, tc := range []struct {
		name   string
		change func(*platform.Config)
		fault  *lambdafake.Fault
		env    map[string]string
		want   []string
	}{
		{name: "no role and no Lambda access", change: func(c *platform.Config) { c.Role = "" },
			fault: &lambdafake.Fault{Op: "GetAccountSettings", Kind: lambdafake.AccessDenied},
			want:  []string{"platforms.lambda.role", "lambda:GetAccountSettings", "AccessDenied"}},
		{name: "bad role", change: func(c *platform.Config) { c.Role = "faaslab-role" }, want: []string{`"faaslab-role"`, "arn:aws:iam::ACCOUNT:role/NAME"}},
		{name: "role of another account", change: func(c *platform.Config) { c.Role = "arn:aws:iam::999999999999:role/r" },
			want: []string{"an execution role in account " + lambdafake.Account, "account 999999999999"}},
		{name: "credentials refused", fault: &lambdafake.Fault{Op: "GetCallerIdentity", Kind: lambdafake.AccessDenied},
			want: []string{"AWS credentials", "sts:GetCallerIdentity"}},
		{name: "no region", change: func(c *platform.Config) { c.Region = "" },
			env: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, want: []string{"a region", "platforms.lambda.region"}},
		{name: "role create without IAM access", change: func(c *platform.Config) { c.Role = aws.RoleCreate },
			fault: &lambdafake.Fault{Op: "GetRole", Kind: lambdafake.AccessDenied}, want: []string{"iam:GetRole"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := cfg
			if tc.change != nil {
				tc.change(&c)
			}
			if tc.fault != nil {
				s.Inject(*tc.fault)
			}
			_, err := aws.New(context.Background(), aws.Options{Config: c})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "aws platform lambda: preflight failed: missing ") || strings.Count(msg, "preflight") != 1 {
				t.Errorf("message %q: want one preflight message", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			if len(s.Functions()) > 0 || len(s.Roles()) > 0 {
				t.Errorf("the failed preflight created something")
			}
		})
	}
}

func TestMaxParallel(t *testing.T) {
	lambdafake.Start(t, lambdafake.Options{UnreservedConcurrency: 20})
	for _, tc := range []struct{ concurrency, want int }{{0, aws.DefaultConcurrency}, {4, 4}, {50, 20}} {
		p := open(t, func(o *aws.Options) { o.Config.Concurrency = tc.concurrency })
		if got := p.MaxParallel(); got != tc.want {
			t.Errorf("concurrency %d: MaxParallel %d, want %d", tc.concurrency, got, tc.want)
		}
	}
}

// TestDeployedFunction checks what a deployment creates: a valid name,
// the tags, the wrapper as handler with the generated handler in
// FAASLAB_HANDLER, the layers of its architecture, and no credential of
// the runner anywhere; Close deletes it, twice without error.
func TestDeployedFunction(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	p := open(t, func(o *aws.Options) {
		o.Config.Layers = map[string][]string{
			"x86_64": {"arn:aws:lambda:us-west-2:123456789012:layer:pillow-x86:3"},
			"arm64":  {"arn:aws:lambda:us-west-2:123456789012:layer:pillow-arm:3"}}
	})
	fn := platformtest.Function(t, okHandler, func(fn *platform.Function) {
		fn.Arch, fn.MemoryMB, fn.EphemeralMB = "arm64", 1769, 1024
		fn.Env = map[string]string{"MODE": "bench"}
		fn.Tags = map[string]string{platform.TagStudy: "conformance", platform.TagRun: "run1", platform.TagCell: "c1"}
	})
	d, err := p.Deploy(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	names := s.Functions()
	if len(names) != 1 || !strings.HasPrefix(names[0], "faaslab-") || len(names[0]) > 64 {
		t.Fatalf("functions %v, want one faaslab- function", names)
	}
	info, _ := s.Function(names[0])
	c := info.Config
	if c.Handler != harness.WrapperHandler || c.Environment.Variables[harness.HandlerEnv] != "handler.handler" ||
		c.Environment.Variables["MODE"] != "bench" || c.MemorySize != 1769 || c.EphemeralStorage.Size != 1024 ||
		len(c.Architectures) != 1 || c.Architectures[0] != "arm64" || c.Runtime != "python3.12" ||
		len(c.Layers) != 1 || !strings.Contains(c.Layers[0].Arn, "pillow-arm") || c.Role != testRole {
		t.Errorf("configuration %+v", c)
	}
	for k, v := range map[string]string{aws.TagManaged: "true", platform.TagStudy: "conformance", platform.TagRun: "run1", platform.TagCell: "c1"} {
		if info.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, info.Tags[k], v)
		}
	}
	for _, secret := range []string{lambdafake.SecretAccessKey, lambdafake.AccessKeyID} {
		if strings.Contains(string(info.Zip), secret) {
			t.Errorf("the function's zip holds a credential")
		}
		for k, v := range c.Environment.Variables {
			if strings.Contains(v, secret) || strings.HasPrefix(k, "AWS_") {
				t.Errorf("the function's environment holds %s=%s", k, v)
			}
		}
	}
	platformtest.Want(t, platformtest.Invoke(t, d, `{}`), platform.StatusOK, "")
	for i := 0; i < 2; i++ {
		if err := d.Close(context.Background()); err != nil {
			t.Fatalf("Close %d: %v", i, err)
		}
	}
	if left := s.Functions(); len(left) > 0 {
		t.Errorf("Close left %v", left)
	}

	// A credential in the environment is refused before anything is created.
	leak := fn
	leak.Env = map[string]string{"TOKEN": "x" + lambdafake.SecretAccessKey}
	if _, err := p.Deploy(context.Background(), leak); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("deploy with a credential in the environment: %v", err)
	}
	leak.Env = map[string]string{"AWS_SECRET_ACCESS_KEY": "x"}
	if _, err := p.Deploy(context.Background(), leak); err == nil {
		t.Errorf("deploy with AWS_SECRET_ACCESS_KEY in the environment succeeded")
	}
	if left := s.Functions(); len(left) > 0 {
		t.Errorf("refused deployments created %v", left)
	}
}

// TestDestroy deploys functions of two studies and runs, "kills" the run
// (never closes them), and checks that Destroy finds and deletes by tag
// exactly what it should, and the role faaslab created.
func TestDestroy(t *testing.T) {
	needPython(t)
	s := lambdafake.Start(t, lambdafake.Options{})
	deploy := func(p *aws.Platform, study, run string) {
		fn := platformtest.Function(t, okHandler, func(fn *platform.Function) {
			fn.Tags = map[string]string{platform.TagStudy: study, platform.TagRun: run, platform.TagCell: "c"}
		})
		if _, err := p.Deploy(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
	}
	pa := open(t, func(o *aws.Options) { o.Config.Study, o.Config.Role = "alpha", aws.RoleCreate })
	pb := open(t, func(o *aws.Options) { o.Config.Study = "beta" })
	deploy(pa, "alpha", "r1")
	deploy(pa, "alpha", "r1")
	deploy(pa, "alpha", "r2")
	deploy(pb, "beta", "r1")
	if roles := s.Roles(); len(roles) != 1 || roles[0] != aws.RoleName("alpha") {
		t.Fatalf("roles %v, want the created %s", roles, aws.RoleName("alpha"))
	}
	cfgA := platform.Config{Name: "aws", Kind: aws.Kind, Region: lambdafake.Region, Role: aws.RoleCreate, Study: "alpha"}

	done, err := aws.Destroy(context.Background(), cfgA, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Functions) != 2 || done.Role != "" || len(s.Functions()) != 2 {
		t.Errorf("destroy alpha r1: %+v, left %v", done, s.Functions())
	}
	done, err = aws.Destroy(context.Background(), cfgA, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Functions) != 1 || done.Role != aws.RoleName("alpha") || len(s.Roles()) != 0 {
		t.Errorf("destroy alpha: %+v, roles left %v", done, s.Roles())
	}
	left := s.Functions()
	if len(left) != 1 {
		t.Fatalf("left %v, want beta's function", left)
	}
	if info, _ := s.Function(left[0]); info.Tags[platform.TagStudy] != "beta" {
		t.Errorf("destroy of alpha deleted beta's function")
	}
	if done, err := aws.Destroy(context.Background(), cfgA, ""); err != nil || len(done.Functions) != 0 || done.Role != "" {
		t.Errorf("second destroy: %+v, %v; want nothing to do", done, err)
	}
}
