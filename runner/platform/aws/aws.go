// Package aws runs functions on AWS Lambda: the "aws" platform kind.
//
// Everything about the account comes from the AWS SDK's standard
// configuration chain (profiles, environment, SSO, and its endpoint
// overrides AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_LAMBDA, which point it
// at LocalStack or another Lambda-compatible endpoint); faaslab adds no
// setting of its own. Opening the platform runs a preflight (the caller's
// identity, the role, the region, the account's concurrency) that fails
// with one message naming everything missing, before anything is created.
//
// Each Deploy creates a function, tagged with the study, run and (first)
// cell and "faaslab:managed", from a reproducible zip of the code and the
// harness's measurement wrapper, which is the function's handler. A
// closed deployment's function is kept for the next Deploy of the same
// code, which changes its memory size (reuse.go), so a run makes one
// function per artifact and architecture; closing the platform, when the
// run ends, deletes them. Functions a killed run left behind are found by
// their tags (see Destroy). Invocations ask for the log tail and read Lambda's own
// REPORT from it, so billed duration, peak memory, init and restore
// durations are Lambda's figures, and a call is cold when Lambda reports
// an init.
package aws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/faaslab/faaslab/runner/platform"
)

// Kind is the platform kind a study names to run on AWS Lambda.
const Kind = "aws"

// RoleCreate is the role setting that lets faaslab create the functions'
// execution role itself (and Destroy delete it).
const RoleCreate = "create"

// TagManaged marks every resource faaslab creates.
const TagManaged = "faaslab:managed"

// DefaultConcurrency is how many functions are invoked at once when the
// study does not say (platforms.<name>.concurrency).
const DefaultConcurrency = 10

// basicExecutionPolicy is the managed policy a created role gets: logs
// only, nothing else.
const basicExecutionPolicy = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

// Options adjust the platform; the zero value of each field is its
// default.
type Options struct {
	Config platform.Config
	// Poll is the shortest wait between polls of a function's state
	// (default 200 ms); the SDK's waiters back off from it.
	Poll time.Duration
	// Backoff is the first wait before retrying a throttled or failed API
	// call (default 500 ms); it doubles with every attempt, to at most
	// 20 s, unless Lambda says how long to wait (Retry-After).
	Backoff time.Duration
	// Attempts bounds the tries of one API call (default 5).
	Attempts int
}

// Platform is AWS Lambda in one account and region. It is safe for
// concurrent use.
type Platform struct {
	opts   Options
	log    *slog.Logger
	lambda *lambda.Client
	iam    *iam.Client // nil unless the role is created
	// s3 and logs serve chains (chain.go): their buckets and their
	// stages' logs.
	s3      *s3.Client
	logs    *cloudwatchlogs.Client
	account string
	region  string
	role    string // the execution role's ARN
	// roleCreated is when faaslab created the role during Open; a new
	// role takes a while before Lambda can assume it.
	roleCreated time.Time
	parallel    int
	// secrets are the runner's own credential strings, which must never
	// reach a function's code or environment.
	secrets []string
	// run makes function names unique per run of faaslab.
	run string

	// idle keeps closed deployments' functions by reuseKey, for the next
	// Deploy of the same code (reuse.go), until the platform is closed.
	poolMu     sync.Mutex
	idle       map[string][]*deployment
	poolClosed bool
	// chains are the chains deployed and not closed yet, which Close
	// closes.
	chains map[*chainDeployment]bool
}

var (
	_ platform.Platform = (*Platform)(nil)
	_ platform.Parallel = (*Platform)(nil)
	_ platform.Closer   = (*Platform)(nil)
	_ platform.Chainer  = (*Platform)(nil)
)

// init registers the "aws" kind: a program that imports this package
// can open Lambda with platform.Open.
func init() {
	platform.Register(Kind, func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		p, err := New(ctx, Options{Config: cfg})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return p, nil
	})
}

// roleARN is the form of an IAM role's ARN.
var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// New opens Lambda with the SDK's default configuration in the study's
// region (or the SDK's own when the study names none), after the
// preflight. With role "create" it creates the study's role (see
// RoleName) when it does not exist yet.
func New(ctx context.Context, opts Options) (*Platform, error) {
	p, c, err := newPlatform(ctx, opts)
	if err != nil {
		return nil, err
	}
	cfg := opts.Config
	if err := p.preflight(ctx, c); err != nil {
		return nil, err
	}
	if cfg.Role == RoleCreate {
		if err := p.ensureRole(ctx); err != nil {
			return nil, fmt.Errorf("aws platform %s: %w", cfg.Name, err)
		}
	}
	return p, nil
}

// newPlatform makes p's clients from the SDK's configuration, without a
// preflight.
func newPlatform(ctx context.Context, opts Options) (*Platform, sdkaws.Config, error) {
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	p := &Platform{opts: opts, log: opts.Config.Log, run: randomHex(4)}
	if p.log == nil {
		p.log = slog.Default()
	}
	c, err := loadConfig(ctx, opts.Config.Region)
	if err != nil {
		return nil, c, fmt.Errorf("aws platform %s: AWS configuration: %w", opts.Config.Name, err)
	}
	p.region = c.Region
	// faaslab retries itself (see retry), honouring Retry-After.
	p.lambda = lambda.NewFromConfig(c, func(o *lambda.Options) { o.Retryer = sdkaws.NopRetryer{} })
	p.s3 = s3.NewFromConfig(c, func(o *s3.Options) {
		o.Retryer = sdkaws.NopRetryer{}
		// Objects that S3-compatible stores (and older uploads) keep
		// without a checksum would make every GetObject log that it
		// cannot check one.
		o.ResponseChecksumValidation = sdkaws.ResponseChecksumValidationWhenRequired
	})
	p.logs = cloudwatchlogs.NewFromConfig(c, func(o *cloudwatchlogs.Options) { o.Retryer = sdkaws.NopRetryer{} })
	if opts.Config.Role == RoleCreate {
		p.iam = iam.NewFromConfig(c, func(o *iam.Options) { o.Retryer = sdkaws.NopRetryer{} })
	}
	return p, c, nil
}

// loadConfig is the SDK's standard chain, in region when it is set.
func loadConfig(ctx context.Context, region string) (sdkaws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}

// preflight checks everything the platform needs before it creates
// anything, and fails with one message naming all that is missing.
func (p *Platform) preflight(ctx context.Context, c sdkaws.Config) error {
	cfg := p.opts.Config
	var missing []string
	if c.Region == "" {
		missing = append(missing, fmt.Sprintf("a region (platforms.%s.region in the study, or AWS_REGION)", cfg.Name))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	credsOK := false
	if c.Region != "" {
		id, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		switch {
		case err != nil:
			missing = append(missing, "AWS credentials that work (sts:GetCallerIdentity: "+short(err)+")")
		default:
			credsOK = true
			p.account = sdkaws.ToString(id.Account)
		}
	}
	if credsOK {
		if v, err := c.Credentials.Retrieve(ctx); err == nil {
			for _, s := range []string{v.AccessKeyID, v.SecretAccessKey, v.SessionToken} {
				if len(s) >= 8 {
					p.secrets = append(p.secrets, s)
				}
			}
		}
	}
	switch role := cfg.Role; {
	case role == "":
		missing = append(missing, fmt.Sprintf(`an execution role (platforms.%s.role: a role ARN, or "create")`, cfg.Name))
	case role == RoleCreate:
		if credsOK {
			if _, err := p.getRole(ctx); err != nil && !isNotFound(err) {
				missing = append(missing, "permission to manage the role faaslab creates (iam:GetRole: "+short(err)+")")
			}
		}
	case !roleARN.MatchString(role):
		missing = append(missing, fmt.Sprintf("a valid role ARN in platforms.%s.role (got %q; want arn:aws:iam::ACCOUNT:role/NAME or \"create\")", cfg.Name, role))
	case p.account != "" && strings.Split(role, ":")[4] != p.account:
		missing = append(missing, fmt.Sprintf("an execution role in account %s, the caller's (platforms.%s.role is in account %s)",
			p.account, cfg.Name, strings.Split(role, ":")[4]))
	default:
		p.role = role
	}
	if credsOK {
		out, err := p.lambda.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
		switch {
		case err != nil:
			missing = append(missing, "access to Lambda (lambda:GetAccountSettings: "+short(err)+")")
		case out.AccountLimit == nil || out.AccountLimit.UnreservedConcurrentExecutions == nil ||
			*out.AccountLimit.UnreservedConcurrentExecutions < 1:
			missing = append(missing, "unreserved concurrency in the account (Lambda reports none)")
		default:
			want := cfg.Concurrency
			if want <= 0 {
				want = DefaultConcurrency
			}
			unreserved := int(*out.AccountLimit.UnreservedConcurrentExecutions)
			p.parallel = min(want, unreserved)
			if cfg.Concurrency > unreserved {
				p.log.Warn("platform concurrency lowered to the account's unreserved concurrency",
					"platform", cfg.Name, "concurrency", cfg.Concurrency, "unreserved", unreserved)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("aws platform %s: preflight failed: missing %s", cfg.Name, strings.Join(missing, "; "))
	}
	return nil
}

// Name is "aws".
func (p *Platform) Name() string { return Kind }

// MaxParallel is the study's concurrency (default DefaultConcurrency),
// never above the account's unreserved concurrency.
func (p *Platform) MaxParallel() int { return p.parallel }

// Region is the region the platform deploys to.
func (p *Platform) Region() string { return p.region }

// short is err's message on one line, without the SDK's operation
// prefix noise beyond what names the failure.
func short(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// errClosed is the error of an Invoke after Close.
var errClosed = errors.New("deployment is closed")
