package check

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestZZProf(t *testing.T) {
	c := localChecker(t)
	ctx := context.Background()
	arts := quickstartArtifacts(t, "primes", "median", "thumbnail")
	for round := 0; round < 2; round++ {
		for _, a := range arts {
			t0 := time.Now()
			c.Check(ctx, a.cand, a.ref, a.tests)
			t1 := time.Now()
			files, _ := readSources(a.cand.CodeDir)
			event, _ := json.Marshal(map[string]any{"op": "metrics", "files": files})
			td, err := c.takeSpare(ctx, a.cand)
			if err != nil {
				t.Fatal(err)
			}
			t2 := time.Now()
			var res metricsResult
			inv, err := td.invoke(ctx, event, &res)
			t3 := time.Now()
			c.retireTools(ctx, td)
			t4 := time.Now()
			if round == 1 {
				t.Logf("%s: check %v take %v invoke %v (handler %v cold %v) retire %v", a.name, t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), inv.Duration, inv.Cold, t4.Sub(t3))
			}
		}
	}
}
