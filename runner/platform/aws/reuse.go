package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/faaslab/faaslab/runner/platform"
)

// A study measures one artifact at several memory sizes: its cells differ
// only in memory. Rather than a function per cell, the platform keeps a
// closed deployment's function idle and gives it to the next Deploy of the
// same code and configuration, changing its memory with
// UpdateFunctionConfiguration; so a run makes one function per artifact ×
// architecture (more only where cells of one artifact are measured at
// once). The update also changes ColdEnv, so a reused function, like a new
// one, starts its first invocation in a new execution environment.

// reuseKey identifies what a function is apart from its memory size: its
// package's CodeSha256 and every other setting of its configuration.
func reuseKey(codeSha256 string, fn platform.Function, env map[string]string, layers []string) string {
	var b strings.Builder
	for _, f := range []string{codeSha256, fn.Arch, fn.Runtime, strconv.FormatInt(int64(fn.Timeout), 10),
		strconv.Itoa(fn.EphemeralMB), strings.Join(layers, ",")} {
		b.WriteString(f)
		b.WriteByte(0)
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		b.WriteString(k + "=" + env[k])
		b.WriteByte(0)
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:])
}

// takeIdle returns an idle deployment of key, or nil.
func (p *Platform) takeIdle(key string) *deployment {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	ds := p.idle[key]
	if len(ds) == 0 {
		return nil
	}
	d := ds[len(ds)-1]
	p.idle[key] = ds[:len(ds)-1]
	return d
}

// keepIdle keeps d's function for reuse; false when the platform is
// closed and d's function is to be deleted.
func (p *Platform) keepIdle(d *deployment) bool {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	if p.poolClosed {
		return false
	}
	if p.idle == nil {
		p.idle = map[string][]*deployment{}
	}
	p.idle[d.key] = append(p.idle[d.key], d)
	return true
}

// reuse makes an idle deployment fn's: its memory size, and a new
// execution environment for the first invocation.
func (d *deployment) reuse(ctx context.Context, fn platform.Function) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fn, d.invoked, d.closed = fn, 0, false
	var memory *int32
	if fn.MemoryMB != d.memoryMB {
		m := int32(fn.MemoryMB)
		memory = &m
	}
	if err := d.update(ctx, memory); err != nil {
		return fmt.Errorf("reuse %s: %w", d.name, err)
	}
	d.memoryMB = fn.MemoryMB
	return nil
}

// Close deletes the functions kept for reuse and the chains still
// deployed; deployments closed after it delete their own. The session
// closes the platform when a run ends.
func (p *Platform) Close(ctx context.Context) error {
	p.poolMu.Lock()
	p.poolClosed = true
	idle := p.idle
	p.idle = nil
	var chains []*chainDeployment
	for cd := range p.chains {
		chains = append(chains, cd)
	}
	p.poolMu.Unlock()
	var errs []error
	for _, cd := range chains {
		errs = append(errs, cd.Close(ctx))
	}
	for _, ds := range idle {
		for _, d := range ds {
			if err := d.delete(ctx); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", d.fn.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
