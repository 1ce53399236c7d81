package remote

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy says when a failed request is tried again.
type Policy struct {
	// MaxRetries is the number of retries after the first attempt.
	MaxRetries int
	// BaseDelay is the backoff ceiling before the first retry; it doubles with each retry.
	BaseDelay time.Duration
	// MaxDelay caps the backoff ceiling, and is the longest server hint (Retry-After)
	// waited for: a server that asks for a longer pause gets its error returned at once,
	// with RetryAfter set, so that the caller can schedule the retry itself.
	MaxDelay time.Duration

	// Test hooks; nil means the real clock and random source.
	Sleep  func(ctx context.Context, d time.Duration) error
	Jitter func(n int64) int64 // uniform in [0, n); n > 0
	Now    func() time.Time
}

// delay returns the pause before retry number attempt+1 (attempt counts from 0) given the
// server's hint, or false when the hint is longer than MaxDelay.
//
// Without a hint it is "full jitter" exponential backoff: uniform in [0, min(MaxDelay,
// BaseDelay·2^attempt)), which spreads the retries of many clients over the whole window
// instead of synchronizing them. With a hint it is the hint plus up to BaseDelay of
// jitter: the server said when, and the jitter keeps concurrent requests that were
// refused together from returning together.
func (p *Policy) delay(attempt int, hint time.Duration) (time.Duration, bool) {
	if hint > 0 {
		if hint > p.MaxDelay {
			return 0, false
		}
		return hint + p.jitter(p.BaseDelay), true
	}
	ceil := p.BaseDelay
	for i := 0; i < attempt && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	return p.jitter(min(ceil, p.MaxDelay)), true
}

func (p *Policy) jitter(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	if p.Jitter != nil {
		return time.Duration(p.Jitter(int64(n)))
	}
	return time.Duration(rand.Int64N(int64(n)))
}

func (p *Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryAfter reads a server's retry hint from the response headers, 0 when there is none:
//
//   - retry-after-ms: milliseconds (sent by Azure OpenAI and honoured by the official
//     OpenAI SDKs), preferred for its precision;
//   - Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
//
// A date in the past gives 0; malformed values are ignored.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 || s > 1<<31 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
