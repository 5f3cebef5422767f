package pricing

// Amazon S3 prices that a pipeline run pays besides its functions: every
// stage reads one object and writes one, and objects are stored until the
// study deletes them. They are S3 Standard's published on-demand prices in
// us-east-1 (the same in us-west-2) on the S3 pricing page, as of
// 2025-12-01; S3PricesAsOf dates them. A study in another region should
// say so in its notes. (To be folded into the dated price table.)
const (
	S3PricesAsOf = "2025-12-01"
	// S3PutUSD is one PUT, COPY, POST or LIST request ($0.005 per 1,000).
	S3PutUSD = 0.005 / 1000
	// S3GetUSD is one GET or SELECT request ($0.0004 per 1,000).
	S3GetUSD = 0.0004 / 1000
	// S3GBMonthUSD is one GB stored for a month, the first 50 TB tier.
	S3GBMonthUSD = 0.023
)

// S3Storage is the price of keeping bytes in S3 Standard for hours
// (billed pro rata over a 30-day month).
func S3Storage(bytes int64, hours float64) float64 {
	return float64(bytes) / (1 << 30) * S3GBMonthUSD * hours / (30 * 24)
}
