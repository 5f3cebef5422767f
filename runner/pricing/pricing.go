// Package pricing turns measured or expected durations and token counts into
// US dollars. Prices are AWS Lambda's published on-demand prices for the
// first tier in us-east-1 (the same in us-west-2), as of 2025; a study that
// needs another region's prices should say so in its notes.
package pricing

import "math"

const (
	// RequestUSD is the price of one Lambda request ($0.20 per million).
	RequestUSD = 0.20 / 1e6
	// GBSecondX86 and GBSecondARM are the prices of one GB-second.
	GBSecondX86 = 0.0000166667
	GBSecondARM = 0.0000133334
)

// LambdaInvocation is the price of one invocation of durationMS at memoryMB
// on arch. Lambda bills duration rounded up to the millisecond.
func LambdaInvocation(arch string, memoryMB int, durationMS float64) float64 {
	perGBs := GBSecondX86
	if arch == "arm64" {
		perGBs = GBSecondARM
	}
	billed := math.Ceil(durationMS)
	if billed < 1 {
		billed = 1
	}
	return RequestUSD + float64(memoryMB)/1024*billed/1000*perGBs
}

// PerMillion is the price of a million invocations like LambdaInvocation's,
// the figure of "cost of 1M executions" in the studies faaslab reproduces.
func PerMillion(arch string, memoryMB int, durationMS float64) float64 {
	return LambdaInvocation(arch, memoryMB, durationMS) * 1e6
}

// Tokens is the price of a generation with the given token counts at prices
// in USD per million tokens.
func Tokens(input, output int64, inputPerMTok, outputPerMTok float64) float64 {
	return float64(input)/1e6*inputPerMTok + float64(output)/1e6*outputPerMTok
}
