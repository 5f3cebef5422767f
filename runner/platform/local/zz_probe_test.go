package local

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestZZProbe(t *testing.T) {
	p := newPlatform(t, Options{})
	dd := deployDir(t, p, "echo", nil)
	d := dd.(*deployment)
	d.fn.MemoryMB = 1769
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		d.Invoke(ctx, []byte(`{}`))
	}
	var thaw, freeze, call, tot, frozenWait []time.Duration
	var notFrozen int
	for i := 0; i < 2000; i++ {
		t0 := time.Now()
		d.c.cg.setFrozen(false)
		t1 := time.Now()
		out, _ := d.c.awaitReady(ctx, d)
		_ = out
		o := d.c.call(ctx, d, []byte(`{}`), false)
		if o.status != "ok" && o.status != "" {
		}
		t2 := time.Now()
		d.c.cg.setFrozen(true)
		t3 := time.Now()
		if !d.c.cg.waitFrozen(0) {
			notFrozen++
			for !d.c.cg.waitFrozen(0) {
			}
		}
		t4 := time.Now()
		thaw = append(thaw, t1.Sub(t0))
		call = append(call, t2.Sub(t1))
		freeze = append(freeze, t3.Sub(t2))
		frozenWait = append(frozenWait, t4.Sub(t3))
		tot = append(tot, t3.Sub(t0))
		time.Sleep(200 * time.Microsecond)
	}
	d.c.cg.setFrozen(false)
	fmt.Println("thaw", percentile(thaw, .5), "call", percentile(call, .5), "freeze", percentile(freeze, .5), "frozenwait", percentile(frozenWait, .5), percentile(frozenWait, .9), "notfrozen", notFrozen, "tot", percentile(tot, .5))
}
