package local

import (
	"context"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/chain"
)

var _ platform.Chainer = (*Platform)(nil)

// DeployChain deploys a pipeline whose events the runner delivers: each
// stage in its own sandbox, reaching the chain's object store through its
// scoped endpoint (runner/platform/chain).
func (p *Platform) DeployChain(ctx context.Context, c platform.Chain) (platform.ChainDeployment, error) {
	return chain.Deploy(ctx, p, c)
}
