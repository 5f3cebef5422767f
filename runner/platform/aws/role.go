package aws

import (
	"context"
	"fmt"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/faaslab/faaslab/runner/platform"
)

// trustPolicy lets Lambda assume the role faaslab creates.
const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// RoleName is the name of the role faaslab creates for study: "faaslab-"
// and the study's name in IAM's alphabet, at most 64 characters.
func RoleName(study string) string {
	name := "faaslab-" + nameUnsafe.ReplaceAllString(study, "-")
	if len(name) > maxNameLen {
		name = name[:maxNameLen]
	}
	return name
}

func (p *Platform) getRole(ctx context.Context) (*iamtypes.Role, error) {
	out, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: sdkaws.String(RoleName(p.opts.Config.Study))})
	if err != nil {
		return nil, err
	}
	return out.Role, nil
}

// ensureRole finds the study's role, or creates it with Lambda's basic
// execution policy (logs, nothing else), tagged as faaslab's.
func (p *Platform) ensureRole(ctx context.Context) error {
	name := RoleName(p.opts.Config.Study)
	role, err := p.getRole(ctx)
	if err == nil {
		p.role = sdkaws.ToString(role.Arn)
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("role %s: %w", name, err)
	}
	err = p.retry(ctx, "create role "+name, func() error {
		out, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName:                 &name,
			AssumeRolePolicyDocument: sdkaws.String(trustPolicy),
			Description:              sdkaws.String("faaslab: execution role of study " + p.opts.Config.Study),
			Tags: []iamtypes.Tag{{Key: sdkaws.String(TagManaged), Value: sdkaws.String("true")},
				{Key: sdkaws.String(platform.TagStudy), Value: sdkaws.String(p.opts.Config.Study)}},
		})
		if err != nil {
			return err
		}
		p.role = sdkaws.ToString(out.Role.Arn)
		return nil
	})
	if err != nil {
		return err
	}
	p.roleCreated = time.Now()
	return p.retry(ctx, "attach the basic execution policy to role "+name, func() error {
		_, err := p.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: &name, PolicyArn: sdkaws.String(basicExecutionPolicy)})
		return err
	})
}
