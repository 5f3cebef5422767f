package llm

import "time"

// SetStallTimeout sets the bound between stream chunks of an API
// generator made by New or NewBedrock, so that tests of a stalled stream
// need not wait DefaultStallTimeout.
func SetStallTimeout(g Generator, d time.Duration) {
	switch g := g.(type) {
	case *openAIGenerator:
		g.stall = d
	case *bedrockGenerator:
		g.stall = d
	default:
		panic("SetStallTimeout: not an API generator")
	}
}
