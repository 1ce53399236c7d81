// Package openai is an embedder for the OpenAI embeddings API and every server that speaks
// it: OpenAI itself, Azure OpenAI, vLLM, llama.cpp's server, LocalAI, LM Studio, Ollama's
// /v1 endpoint, and the many hosted gateways that copy it.
//
//	e, err := openai.New(openai.WithModel("text-embedding-3-small"), openai.WithDimensions(512))
//	vecs, err := e.Embed(ctx, texts)
//
// The key comes from WithAPIKey or the OPENAI_API_KEY environment variable; WithBaseURL
// points the embedder at another server ("http://localhost:8000/v1" for vLLM) and
// WithEndpoint at an Azure deployment URL (with WithAzureAPIKey).
//
// # Protocol
//
// Each request is POST {base}/embeddings with {"model", "input": [texts...],
// "dimensions"?, "encoding_format"?}; the answer's data[i].embedding is matched to its input
// by data[i].index (servers that omit the index are read in order). Every answer is
// checked: as many embeddings as inputs, each index once, every vector of the same length
// (the requested or declared one, else the first answer's), every number a finite float32.
// With WithBase64 the vectors travel as base64 float32 bytes: less than half the size, and
// about 2.5 times faster to decode.
//
// # Batching and concurrency
//
// An Embed call's texts are packed, in order, into requests of at most 2,048 inputs (the
// API's limit; WithMaxInputs) and 300,000 bytes of text (WithMaxRequestBytes; the API caps a
// request at 300,000 tokens, and no token is shorter than a byte). The requests run
// concurrently, at most 4 in flight at once across all calls of the embedder
// (WithConcurrency), and their vectors are reassembled in input order.
//
// # Failures
//
// Each request is retried on HTTP 408, 425, 429 and 5xx (except 501 and 505), on dropped or
// refused connections and on an attempt timeout (WithRequestTimeout), up to 4 times
// (WithRetry), after exponential backoff with full jitter, or after the pause the server
// asks for: Retry-After (seconds or an HTTP date), retry-after-ms, or for a 429 without
// them OpenAI's x-ratelimit-reset-requests / x-ratelimit-reset-tokens. A pause longer than
// the backoff cap (30s), or one that would outlast the context's deadline, is not waited
// for: the error is returned at once, retryable, with RetryAfter set. A 429 whose error
// type is "insufficient_quota" (no credit left) is permanent.
//
// What Embed returns then:
//
//   - Bad texts (empty, not valid UTF-8, over WithMaxTextBytes) fail alone without being
//     sent: embed.TextErrors, each a permanent *embed.Error.
//   - Texts the server rejects: when a request of several texts is refused as a bad request
//     (HTTP 400, 413 or 422; for instance one input over the model's 8,192 tokens), the
//     embedder sends the shortest text alone and, if that is refused too, the second
//     shortest: both refused means the request itself is wrong (unknown parameter,
//     unsupported dimensions) and the whole call fails with the server's message.
//     Otherwise it bisects the request to find the refused texts, which fail alone with
//     the server's message for them while every other text gets its vector: about
//     2·log2(n) extra requests per refused text, at most 64 per call
//     (WithIsolationBudget); texts still untried when the budget is spent fail with a
//     retryable error.
//   - A request that fails otherwise (retries exhausted, a malformed answer, wrong
//     dimensions) fails its own texts, as retryable or permanent as its cause; if no text
//     of the call got a vector, the call fails with that error instead.
//   - A permanent failure of the request itself (HTTP 401, 403, 404, a rejected TLS
//     certificate, an unknown host) stops the call: the error is returned alone.
//   - The context ending returns the context's error, promptly, with no request left
//     running.
//
// Every error is an *embed.Error naming "openai", with the HTTP status and the server's
// message (and its type, code and param), so embed.IsRetryable and embed.RetryAfterOf
// answer the caller's next question.
package openai
