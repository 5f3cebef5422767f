package llm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// cacheKeyVersion changes whenever the meaning of a key changes, for
// instance when ExtractCode's rule does, so that old artifacts stop
// matching.
const cacheKeyVersion = 2 // 2: ExtractCode returns "" for answers without code (NOCODE)

// cacheKeyFields is the canonical encoding of a Request for CacheKey. Its
// JSON encoding is stable: fields in declaration order, nil pointers as
// null, so an unset parameter differs from a zero one, and floats as
// shortest round-trip text, so that NaN cannot break the encoding.
type cacheKeyFields struct {
	Version     int      `json:"v"`
	Provider    string   `json:"provider"`
	BaseURL     string   `json:"base_url"`
	ModelName   string   `json:"model_name"`
	Handler     string   `json:"handler"`
	Temperature *string  `json:"temperature"`
	TopP        *string  `json:"top_p"`
	MaxTokens   *int     `json:"max_tokens"`
	Seed        *int     `json:"seed"`
	Stop        []string `json:"stop"`
	System      string   `json:"system"`
	Prompt      string   `json:"prompt"`
	Sample      int      `json:"sample"`
	// The reasoning parameters are left out when unset, so that the keys
	// of earlier studies stay as they were.
	Reasoning           bool   `json:"reasoning,omitempty"`
	MaxCompletionTokens *int   `json:"max_completion_tokens,omitempty"`
	ReasoningEffort     string `json:"reasoning_effort,omitempty"`
	// Source locates the code of the "reference" and "files" providers,
	// whose output depends on it rather than on the prompt.
	Source []string `json:"source,omitempty"`
}

// CacheKey returns the key of the generation req asks for, as 64 hex
// digits: the SHA-256 of a canonical encoding of the provider, the base URL
// (the provider's default when req has none), the model name, every
// generation parameter, the handler setting, the full system and prompt
// text and the sample index. It leaves out what does not change the
// answer: the study's model id, the API key and the name of its variable,
// and transport settings (whether the answer is streamed among them). For
// "reference" and "files" it also covers the
// path of the code (not its content); these are cheap to read again and
// not worth caching.
func CacheKey(req Request) string {
	f := cacheKeyFields{
		Version:     cacheKeyVersion,
		Provider:    req.Provider,
		BaseURL:     effectiveBaseURL(req.Provider, req.BaseURL),
		ModelName:   req.ModelName,
		Handler:     req.Handler,
		Temperature: floatText(req.Params.Temperature),
		TopP:        floatText(req.Params.TopP),
		MaxTokens:   req.Params.MaxTokens,
		Seed:        req.Params.Seed,
		Stop:        req.Params.Stop,
		System:      req.System,
		Prompt:      req.Prompt,
		Sample:      req.Sample,

		Reasoning:           req.Reasoning,
		MaxCompletionTokens: req.Params.MaxCompletionTokens,
		ReasoningEffort:     req.Params.ReasoningEffort,
	}
	if len(f.Stop) == 0 {
		f.Stop = nil
	}
	switch req.Provider {
	case "reference":
		f.Source = []string{req.ReferenceFile}
	case "files":
		f.Source = []string{req.FilesDir, req.Task, req.Variant}
	}
	b, err := json.Marshal(f)
	if err != nil {
		panic("llm: encode cache key: " + err.Error()) // strings and ints always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// floatText formats *p in its shortest round-trip form, or returns nil.
func floatText(p *float64) *string {
	if p == nil {
		return nil
	}
	s := strconv.FormatFloat(*p, 'g', -1, 64)
	return &s
}

// CodeHash returns the SHA-256, as 64 hex digits, of files: the names in
// byte order, each name and content preceded by its length as a big-endian
// uint64, so that no two different sets of files hash alike.
func CodeHash(files map[string][]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, name := range sortedNames(files) {
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(files[name])))
		h.Write(n[:])
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}
