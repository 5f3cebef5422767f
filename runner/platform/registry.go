package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config is what a platform is opened with: the study's name for it and
// its settings (schema.Platform), which the platform's opener interprets.
type Config struct {
	// Name is the study's name for the platform, e.g. "local" or "aws".
	Name string
	// Kind selects the opener, e.g. "local".
	Kind   string
	Region string
	Role   string
	// Layers are the layer ARNs of each architecture ("x86_64", "arm64").
	Layers map[string][]string
	// Concurrency bounds the functions invoked at once (the study's
	// platforms.<name>.concurrency); 0 is the platform's default.
	Concurrency int
	// Study names the study, for the tags that find a run's leftovers.
	Study string
	// InitTimeout replaces Lambda's 10 s init limit on platforms that
	// emulate it (local; platforms.<name>.init_timeout_s); 0 keeps it.
	InitTimeout time.Duration
	// Log receives the platform's own warnings (e.g. a host too busy for
	// faithful timings); nil means slog.Default().
	Log *slog.Logger
}

// Opener opens a platform of one kind. The returned Platform lives until
// the process ends; openers that hold resources release them when their
// deployments close.
type Opener func(ctx context.Context, cfg Config) (Platform, error)

var (
	registryMu sync.RWMutex
	openers    = map[string]Opener{}
)

// ErrNotBuilt marks a platform kind that this build of faaslab cannot run:
// no opener is registered for it. It is a fault of the study (or of the
// build chosen for it), not of the host.
var ErrNotBuilt = errors.New("platform kind not in this build")

// Register makes platforms of kind openable by Open. A platform package
// registers itself from an init function, so that importing it is all a
// program needs; Register panics when kind is empty, open is nil or kind
// is registered already, as those are mistakes in the program, not in a
// study.
func Register(kind string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	switch {
	case kind == "" || open == nil:
		panic("platform.Register: empty kind or nil opener")
	case openers[kind] != nil:
		panic("platform.Register: kind " + kind + " registered twice")
	}
	openers[kind] = open
}

// Registered reports whether Open can open platforms of kind.
func Registered(kind string) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return openers[kind] != nil
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	kinds := make([]string, 0, len(openers))
	for k := range openers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// Open opens the platform cfg names with the opener registered for its
// kind. A kind without one is an error wrapping ErrNotBuilt that names
// the kinds this build can run.
func Open(ctx context.Context, cfg Config) (Platform, error) {
	registryMu.RLock()
	open := openers[cfg.Kind]
	registryMu.RUnlock()
	if open == nil {
		return nil, NotBuilt(cfg)
	}
	p, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open platform %s (kind %q): %w", cfg.Name, cfg.Kind, err)
	}
	return p, nil
}

// NotBuilt is the error Open returns for a kind without an opener: it
// names the platform, its kind and the kinds this build runs, and
// errors.Is(err, ErrNotBuilt) holds.
func NotBuilt(cfg Config) error {
	return &notBuiltError{cfg: cfg, built: Kinds()}
}

type notBuiltError struct {
	cfg   Config
	built []string
}

func (e *notBuiltError) Error() string {
	built := "none"
	if len(e.built) > 0 {
		built = strings.Join(e.built, ", ")
	}
	return fmt.Sprintf("platform %s is of kind %q, which this build of faaslab can plan but not run yet (it runs: %s)",
		e.cfg.Name, e.cfg.Kind, built)
}

func (e *notBuiltError) Is(target error) bool { return target == ErrNotBuilt }
