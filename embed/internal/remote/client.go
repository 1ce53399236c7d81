// Package remote is the machinery the HTTP embedders (openai, ollama) share: posting a JSON
// request with retries, backoff and a bound on requests in flight (Client); splitting an
// Embed call into requests, running them concurrently and isolating the texts a server
// rejects (Runner); and checking the vectors that come back (Dims, ParseFloats,
// Base64Float32s).
package remote

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/engram-go/engram/embed"
)

// Client posts JSON requests to one endpoint.
type Client struct {
	Name   string       // the embedder's name in errors: "openai", "ollama"
	HTTP   *http.Client // nil means a client of its own (see NewClient), with no timeout
	URL    string
	Header http.Header // added to every request (authorization, custom headers)
	Policy Policy
	// RequestTimeout bounds one attempt (0: only the caller's context bounds it). An attempt
	// that runs out of it is a retryable failure; the caller's deadline is not.
	RequestTimeout time.Duration
	// Classify turns an answer with a non-2xx status into an error; Status, Retryable and
	// RetryAfter are filled from the status and headers when it leaves them zero. nil
	// means the status alone decides.
	Classify func(status int, h http.Header, body []byte) *embed.Error

	sem chan struct{}
}

// NewClient returns c ready for use, with at most concurrency requests in flight at once
// across all of its callers.
func NewClient(c Client, concurrency int) *Client {
	if c.HTTP == nil {
		// Its own transport, keeping as many idle connections to the server as requests may
		// be in flight: http.DefaultTransport keeps 2 per host, so with more in flight it
		// would close and reopen connections (and redo TLS handshakes) all the time.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = max(concurrency, 2)
		c.HTTP = &http.Client{Transport: t}
	}
	c.sem = make(chan struct{}, concurrency)
	return &c
}

// Concurrency is the bound on requests in flight.
func (c *Client) Concurrency() int { return cap(c.sem) }

// Post sends body and returns the body of a 2xx answer. Failures are *embed.Error values
// (Retryable when a retry may succeed; Post has already retried those MaxRetries times),
// or the context's error when ctx ended. maxResponse bounds the answer's size.
func (c *Client) Post(ctx context.Context, body []byte, maxResponse int64) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		data, err := c.once(ctx, body, maxResponse)
		if err == nil {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ee *embed.Error
		if !errors.As(err, &ee) || !ee.Retryable {
			return nil, err
		}
		if attempt >= c.Policy.MaxRetries {
			ee.Msg = appendMsg(ee.Msg, fmt.Sprintf("gave up after %d attempts", attempt+1))
			return nil, ee
		}
		wait, ok := c.Policy.delay(attempt, ee.RetryAfter)
		if !ok {
			ee.Msg = appendMsg(ee.Msg, fmt.Sprintf("not retried: the server asks for a pause of %v, longer than the %v the embedder waits", ee.RetryAfter, c.Policy.MaxDelay))
			return nil, ee
		}
		if deadline, has := ctx.Deadline(); has && c.Policy.now().Add(wait).After(deadline) {
			ee.Msg = appendMsg(ee.Msg, fmt.Sprintf("not retried: the context's deadline comes before the next attempt (in %v)", wait))
			return nil, ee
		}
		if err := c.Policy.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func appendMsg(msg, more string) string {
	if msg == "" {
		return more
	}
	return msg + "; " + more
}

// once makes one attempt.
func (c *Client) once(ctx context.Context, body []byte, maxResponse int64) ([]byte, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()

	rctx := ctx
	if c.RequestTimeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, c.RequestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, &embed.Error{Embedder: c.Name, Msg: "building the request", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, rctx, "sending the request", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, c.transportError(ctx, rctx, "reading the response", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(resp.StatusCode, resp.Header, data)
	}
	if int64(len(data)) > maxResponse {
		return nil, &embed.Error{Embedder: c.Name, Status: resp.StatusCode,
			Msg: fmt.Sprintf("response larger than %d bytes", maxResponse)}
	}
	return data, nil
}

func (c *Client) statusError(status int, h http.Header, body []byte) *embed.Error {
	var ee *embed.Error
	if c.Classify != nil {
		ee = c.Classify(status, h, body)
	}
	if ee == nil {
		ee = &embed.Error{Msg: Snippet(body)}
		ee.Retryable = RetryableStatus(status)
	}
	ee.Embedder = c.Name
	if ee.Status == 0 {
		ee.Status = status
	}
	if ee.Retryable && ee.RetryAfter == 0 {
		ee.RetryAfter = RetryAfter(h, c.Policy.now())
	}
	return ee
}

// RetryableStatus reports whether an answer with this status may succeed if repeated: 408
// (request timeout), 425 (too early), 429 (too many requests) and the 5xx server errors
// except 501 (not implemented) and 505 (HTTP version not supported).
func RetryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500 && status <= 599
}

// transportError classifies a failure to exchange a request: the caller's context ending
// gives the context's error; the per-attempt timeout, refused or dropped connections and
// DNS timeouts are retryable; a rejected TLS certificate or an unknown host are not.
func (c *Client) transportError(ctx, rctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rctx.Err() != nil {
		return &embed.Error{Embedder: c.Name, Retryable: true,
			Msg: fmt.Sprintf("%s: attempt timed out after %v", what, c.RequestTimeout)}
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		dns              *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return &embed.Error{Embedder: c.Name, Msg: what + ": TLS certificate rejected", Err: err}
	case errors.As(err, &dns) && dns.IsNotFound:
		return &embed.Error{Embedder: c.Name, Msg: what + ": unknown host", Err: err}
	}
	return &embed.Error{Embedder: c.Name, Retryable: true, Msg: what, Err: err}
}

// Snippet returns the start of an answer's body for an error message: at most 300 bytes,
// on one line.
func Snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "..."
	}
	if s == "" {
		return "empty response body"
	}
	return s
}
