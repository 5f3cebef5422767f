package aws

import (
	"context"
	"fmt"
	"sort"
	"strings"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/faaslab/faaslab/runner/platform"
)

// Destroyed is what Destroy deleted.
type Destroyed struct {
	// Functions are the names of the functions deleted, sorted.
	Functions []string
	// Buckets are the chains' buckets deleted with their objects, sorted.
	Buckets []string
	// LogGroups are the log groups of the deleted functions that were
	// deleted with them (Lambda keeps them), sorted.
	LogGroups []string
	// Role is the role deleted, if any.
	Role string
}

// Destroy deletes every function faaslab created for cfg.Study on the
// platform cfg describes (only the run's when run is not empty), found
// by their tags, with their log groups; the buckets of its chains, found
// by their tags, with their objects (and their policies in the role
// faaslab creates); and, for a whole study whose role faaslab creates,
// that role. It is how a killed run's leftovers go: a run's own
// functions and buckets are deleted when it ends. Resources of other
// studies and resources faaslab did not create are never touched.
func Destroy(ctx context.Context, cfg platform.Config, run string) (Destroyed, error) {
	var done Destroyed
	if cfg.Study == "" {
		return done, fmt.Errorf("destroy: no study")
	}
	p, _, err := newPlatform(ctx, Options{Config: cfg})
	if err != nil {
		return done, err
	}
	buckets, err := p.studyBuckets(ctx, run)
	if apiCode(err) == "AccessDenied" {
		// Credentials for studies without pipelines need no S3.
		p.log.Warn("destroy: buckets not searched: no permission to list them", "error", err)
		err = nil
	}
	if err != nil {
		return done, fmt.Errorf("destroy: %w", err)
	}
	for _, b := range buckets {
		if p.iam != nil {
			if err := p.deleteRolePolicy(ctx, chainPolicyPrefix+b); err != nil {
				return done, fmt.Errorf("destroy: %w", err)
			}
		}
		if err := p.deleteBucket(ctx, b); err != nil {
			return done, fmt.Errorf("destroy: %w", err)
		}
		done.Buckets = append(done.Buckets, b)
	}
	var names []string
	pages := lambda.NewListFunctionsPaginator(p.lambda, &lambda.ListFunctionsInput{})
	for pages.HasMorePages() {
		var page *lambda.ListFunctionsOutput
		err := p.retry(ctx, "list functions", func() error {
			var err error
			page, err = pages.NextPage(ctx)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("destroy: %w", err)
		}
		for _, f := range page.Functions {
			name := sdkaws.ToString(f.FunctionName)
			if !strings.HasPrefix(name, "faaslab-") {
				continue // not a name faaslab gives
			}
			var tags map[string]string
			err := p.retry(ctx, "list tags of "+name, func() error {
				out, err := p.lambda.ListTags(ctx, &lambda.ListTagsInput{Resource: f.FunctionArn})
				if err == nil {
					tags = out.Tags
				}
				return err
			})
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return done, fmt.Errorf("destroy: %w", err)
			}
			if tags[TagManaged] == "true" && tags[platform.TagStudy] == cfg.Study && (run == "" || tags[platform.TagRun] == run) {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := p.deleteFunction(ctx, name); err != nil {
			return done, fmt.Errorf("destroy: %w", err)
		}
		done.Functions = append(done.Functions, name)
		if err := p.deleteLogGroup(ctx, name); err != nil {
			// A study of single functions needs no logs permission
			// beyond its role's: a log group left is no failure.
			p.log.Warn("destroy: log group left", "group", LogGroup(name), "error", err)
			continue
		}
		done.LogGroups = append(done.LogGroups, LogGroup(name))
	}
	if cfg.Role == RoleCreate && run == "" {
		deleted, err := p.deleteRole(ctx)
		if err != nil {
			return done, fmt.Errorf("destroy: %w", err)
		}
		done.Role = deleted
	}
	return done, nil
}

// deleteRole deletes the study's role if faaslab created it, and
// returns its name ("" when there was none).
func (p *Platform) deleteRole(ctx context.Context) (string, error) {
	name := RoleName(p.opts.Config.Study)
	var tags map[string]string
	err := p.retry(ctx, "list tags of role "+name, func() error {
		out, err := p.iam.ListRoleTags(ctx, &iam.ListRoleTagsInput{RoleName: &name})
		if err != nil {
			return err
		}
		tags = map[string]string{}
		for _, t := range out.Tags {
			tags[sdkaws.ToString(t.Key)] = sdkaws.ToString(t.Value)
		}
		return nil
	})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if tags[TagManaged] != "true" || tags[platform.TagStudy] != p.opts.Config.Study {
		return "", nil // someone else's role of the same name
	}
	var attached []string
	err = p.retry(ctx, "list policies of role "+name, func() error {
		out, err := p.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: &name})
		if err != nil {
			return err
		}
		attached = attached[:0]
		for _, a := range out.AttachedPolicies {
			attached = append(attached, sdkaws.ToString(a.PolicyArn))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, arn := range attached {
		err := p.retry(ctx, "detach "+arn+" from role "+name, func() error {
			_, err := p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: &name, PolicyArn: &arn})
			if isNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return "", err
		}
	}
	err = p.retry(ctx, "delete role "+name, func() error {
		_, err := p.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &name})
		return err
	})
	if isNotFound(err) {
		return "", nil
	}
	return name, err
}

// studyBuckets returns, sorted, the buckets faaslab created for the
// study's chains in the platform's region (only the run's when run is
// not empty), found by their names and tags.
func (p *Platform) studyBuckets(ctx context.Context, run string) ([]string, error) {
	var found []string
	pages := s3.NewListBucketsPaginator(p.s3, &s3.ListBucketsInput{Prefix: sdkaws.String("faaslab-"), BucketRegion: &p.region})
	for pages.HasMorePages() {
		var page *s3.ListBucketsOutput
		err := p.retry(ctx, "list buckets", func() error {
			var err error
			page, err = pages.NextPage(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, b := range page.Buckets {
			name := sdkaws.ToString(b.Name)
			if !strings.HasPrefix(name, "faaslab-") || b.BucketRegion != nil && *b.BucketRegion != p.region {
				continue // not a name faaslab gives, or another region's
			}
			tags := map[string]string{}
			err := p.retry(ctx, "get the tags of bucket "+name, func() error {
				out, err := p.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: &name})
				if err != nil {
					return err
				}
				for _, t := range out.TagSet {
					tags[sdkaws.ToString(t.Key)] = sdkaws.ToString(t.Value)
				}
				return nil
			})
			if s3Gone(err) || apiCode(err) == "NoSuchTagSet" {
				continue
			}
			if err != nil {
				return nil, err
			}
			if tags[TagManaged] == "true" && tags[platform.TagStudy] == p.opts.Config.Study && (run == "" || tags[platform.TagRun] == run) {
				found = append(found, name)
			}
		}
	}
	sort.Strings(found)
	return found, nil
}
