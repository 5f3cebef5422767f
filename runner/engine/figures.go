package engine

import (
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/pricing"
)

// ms is d in milliseconds, as the tables hold times.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// billing is what a platform reported of an invocation beyond its
// duration, as the invocations and stages tables hold it: the init of a
// cold call, Lambda's billed duration or the platform's estimate of it,
// and the environment's peak memory. Nil where not reported.
type billing struct {
	InitMS, BilledMS, BilledEstMS *float64
	MaxMemoryUsedMB               *int32
}

// billingOf is inv's billing figures.
func billingOf(inv platform.Invocation) billing {
	var b billing
	if inv.Cold && inv.InitDuration > 0 {
		v := ms(inv.InitDuration)
		b.InitMS = &v
	}
	if inv.BilledDuration > 0 {
		v := ms(inv.BilledDuration)
		if inv.BilledEstimated {
			b.BilledEstMS = &v
		} else {
			b.BilledMS = &v
		}
	}
	if inv.MaxMemoryUsedMB > 0 {
		v := int32(inv.MaxMemoryUsedMB)
		b.MaxMemoryUsedMB = &v
	}
	return b
}

// call is an invocation as Lambda bills it: Lambda's billed duration
// where it reported one, else the platform's estimate, else durationMS;
// a cold start's INIT, billed from the price table's date.
func (b billing) call(arch string, memoryMB, ephemeralMB int, durationMS float64, at time.Time, cold bool) pricing.Call {
	c := pricing.Call{Arch: arch, MemoryMB: memoryMB, EphemeralMB: ephemeralMB, DurationMS: durationMS, At: at}
	if b.BilledMS != nil {
		c.BilledMS = *b.BilledMS
	}
	if b.BilledEstMS != nil {
		c.EstimateMS = *b.BilledEstMS
	}
	if cold && b.InitMS != nil {
		c.InitMS = *b.InitMS
	}
	return c
}
