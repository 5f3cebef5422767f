package platform

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// stubPlatform is a Platform that deploys nothing, for registry tests.
type stubPlatform struct{ name string }

func (p stubPlatform) Name() string { return p.name }
func (p stubPlatform) Deploy(context.Context, Function) (Deployment, error) {
	return nil, errors.New("stub")
}

func TestRegistry(t *testing.T) {
	var got Config
	Register("test-kind", func(ctx context.Context, cfg Config) (Platform, error) {
		got = cfg
		return stubPlatform{"test-kind"}, nil
	})
	Register("test-broken", func(ctx context.Context, cfg Config) (Platform, error) {
		return nil, errors.New("no sandbox here")
	})
	if !Registered("test-kind") || Registered("test-none") {
		t.Errorf("Registered: test-kind %v, test-none %v", Registered("test-kind"), Registered("test-none"))
	}
	p, err := Open(context.Background(), Config{Name: "mine", Kind: "test-kind", Region: "r"})
	if err != nil || p.Name() != "test-kind" || got.Name != "mine" || got.Region != "r" {
		t.Errorf("Open = %v, %v (config %+v)", p, err, got)
	}

	_, err = Open(context.Background(), Config{Name: "cloud", Kind: "test-none"})
	if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), `platform cloud is of kind "test-none"`) ||
		!strings.Contains(err.Error(), "test-kind") {
		t.Errorf("Open of an unregistered kind: %v; want ErrNotBuilt naming the platform and the kinds built", err)
	}

	_, err = Open(context.Background(), Config{Name: "b", Kind: "test-broken"})
	if err == nil || errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "no sandbox here") {
		t.Errorf("Open of a failing opener: %v; want its error, not ErrNotBuilt", err)
	}

	for _, tc := range []struct {
		name string
		kind string
		open Opener
	}{
		{"twice", "test-kind", func(context.Context, Config) (Platform, error) { return nil, nil }},
		{"empty kind", "", func(context.Context, Config) (Platform, error) { return nil, nil }},
		{"nil opener", "test-nil", nil},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register %s did not panic", tc.name)
				}
			}()
			Register(tc.kind, tc.open)
		}()
	}
}
