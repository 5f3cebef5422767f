package platform

import (
	"context"
	"time"
)

// Pipelines: functions chained by object-storage events.
//
// A Chain is one pipeline instance's stages deployed together. Stage i
// is triggered by each object created under Prefixes[i] (the event it
// receives is S3's ObjectCreated notification of that object) and writes
// its output under Prefixes[i+1], which triggers stage i+1. Every object
// of one run carries the run's name as its file name's stem
// ("<name>.<ext>", whatever extension a stage writes), which is how a
// run is followed from stage to stage.
//
// Platforms whose storage delivers the events (AWS Lambda: an S3 bucket
// per chain and its notifications) implement Chainer. Platforms that host
// storage themselves (local, fake) deliver the events from the runner:
// see runner/platform/chain.

// Environment variables that tell a stage where to write its output, as
// a Lambda function's configuration would. Platforms set them.
const (
	EnvOutputBucket = "OUTPUT_BUCKET"
	EnvOutputPrefix = "OUTPUT_PREFIX"
)

// Chain is a pipeline instance to deploy.
type Chain struct {
	// Name is unique among the chains alive at once (the engine uses the
	// pipeline cell's ID); platforms may shorten it.
	Name string
	// Stages are the stage functions in order. Their S3 and their
	// OUTPUT_* variables are the platform's to set.
	Stages []Function
	// Prefixes has len(Stages)+1 key prefixes: stage i reads
	// Prefixes[i] and writes Prefixes[i+1].
	Prefixes []string
	// Tags label what the chain creates (buckets, functions), as
	// Function.Tags.
	Tags map[string]string
}

// Object is one stored object.
type Object struct {
	Key  string
	Size int64
	// Modified is when the store recorded the object (S3's
	// Last-Modified, at the precision the store keeps).
	Modified time.Time
}

// ChainStage is what one stage did in a run.
type ChainStage struct {
	// Invocation is the stage's invocation: on AWS from its REPORT line
	// and log, locally from the sandbox.
	Invocation Invocation
	// Output is the object the stage wrote for the run; nil when it
	// wrote none (within the run's timeout) or failed.
	Output *Object
}

// ChainRun is one run of a chain.
type ChainRun struct {
	// Uploaded is when the store recorded the run's input object.
	Uploaded time.Time
	// Stages holds the stages reached, in order: it ends at the first
	// stage that failed or wrote no output, or at the last stage.
	Stages []ChainStage
	// TimedOut says the run did not finish within its timeout; the
	// stage that did not finish is the last of Stages when it was
	// invoked, else absent.
	TimedOut bool
}

// Chainer is implemented by platforms that deploy chains themselves.
type Chainer interface {
	DeployChain(ctx context.Context, c Chain) (ChainDeployment, error)
}

// ChainDeployment is one deployed chain. Run calls are serialised by the
// caller.
type ChainDeployment interface {
	// Run uploads data as Prefixes[0]+name and follows the run until
	// the last stage's output appears, a stage fails or writes nothing,
	// or timeout passes. A failing stage is a result, in the run; the
	// error return is for infrastructure failures only (ErrInfrastructure
	// wraps those a retry may cure).
	Run(ctx context.Context, name string, data []byte, timeout time.Duration) (ChainRun, error)
	// Get reads an object that the chain's runs wrote.
	Get(ctx context.Context, key string) ([]byte, error)
	// Close deletes everything the chain created. It is idempotent.
	Close(ctx context.Context) error
}
