package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/faaslab/faaslab/runner/llm"
	"github.com/faaslab/faaslab/runner/plan"
)

// Replay supplies API models' generations recorded earlier, a study's lock
// (runner/lock), in place of calling the models.
//
// Generation returns the recorded generation g, made from req: its journal
// record, as made when the model was called (tokens, timings, model
// version, attempts, creation time), and its code and raw answer. An
// error wrapping ErrNotReplayed says the replay has no valid recording of
// g (none, or one made from another request) and names g's model, task,
// variant and sample; any other error is a damaged recording. The record's
// Key is left for the engine to set. Implementations are safe for
// concurrent use.
type Replay interface {
	Generation(ctx context.Context, g plan.Generation, req llm.Request) (GenerationRecord, llm.Result, error)
}

// ErrNotReplayed says a Replay holds no recording of a generation.
var ErrNotReplayed = errors.New("not recorded")

// replayed journals the recorded generation g when the engine's Replay has
// it. done reports that it did, or that g failed (failed: the unit failed,
// already reported); err is a failure to record. When Locked, a generation
// the Replay lacks fails, and no API is called.
func (e *Engine) replayed(ctx context.Context, g plan.Generation, req llm.Request, bar *Bar) (done, failed bool, err error) {
	if e.Replay == nil || e.Refresh || !e.Plan.Study.Models[g.Model].CallsAPI() {
		return false, false, nil
	}
	rec, res, rerr := e.Replay.Generation(ctx, g, req)
	if errors.Is(rerr, ErrNotReplayed) && !e.Locked {
		return false, false, nil // made as usual
	}
	if rerr == nil && rec.ID != g.ID {
		rerr = fmt.Errorf("generation %s: the replay returned generation %s", g.ID, rec.ID)
	}
	if rerr != nil {
		if ctx.Err() != nil {
			return true, false, ctx.Err()
		}
		return true, true, e.fail(bar, 1, StageGenerate, g.ID, 0, rerr)
	}
	rec.Key = recordedKey(llm.CacheKey(req), res)
	if err := e.Store.Put(ctx, rec.Key, res); err != nil {
		return true, false, err
	}
	if err := e.journal.Append(Record{Generation: &rec}); err != nil {
		return true, false, err
	}
	e.Log.Info("generated", "generation", g.ID, "model", g.Model, "task", g.Task, "variant", g.Variant,
		"sample", g.Sample, "replayed", true)
	bar.Add()
	return true, false, nil
}

// recordedKey is the artifact store key of an API generation that does not
// go under its request's cache key: one read from a lock, or made again by
// Refresh, while the store may hold another answer under the cache key
// (store entries are never replaced). It covers the request's cache key,
// the code and the raw answer, so that two generations never share an
// entry (every empty answer has the same code).
func recordedKey(cacheKey string, res llm.Result) string {
	raw := sha256.Sum256([]byte(res.Raw))
	sum := sha256.Sum256([]byte("recorded\x00" + cacheKey + "\x00" + llm.CodeHash(res.Files) + "\x00" + hex.EncodeToString(raw[:])))
	return hex.EncodeToString(sum[:])
}
