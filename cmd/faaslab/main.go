// Command faaslab runs studies of LLM-generated serverless functions from
// one CUE file: plan, generate, check, measure, export.
package main

import "os"

func main() { os.Exit(Main()) }
