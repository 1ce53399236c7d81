package remote

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/engram-go/engram/embed"
)

// Settings is the configuration the HTTP embedders share; their options write it.
type Settings struct {
	Name           string // "openai", "ollama"
	URL            string // the endpoint requests are posted to
	Model          string
	Header         http.Header
	HTTP           *http.Client
	Limits         Limits
	Concurrency    int
	Policy         Policy
	RequestTimeout time.Duration
	Isolation      int
	Dimensions     int // requested from the server (sent in each request); 0: the model's own
	Expected       int // declared by the caller, checked but not sent; 0: learned
}

// OptionError returns an *embed.OptionError for the named option.
func (s *Settings) OptionError(option, format string, args ...any) error {
	return &embed.OptionError{Embedder: s.Name, Option: option, Reason: fmt.Sprintf(format, args...)}
}

// Build checks the settings' consistency once all options ran and returns the client and
// the runner they describe; the caller sets the runner's Send.
func (s *Settings) Build(classify func(status int, h http.Header, body []byte) *embed.Error) (*Client, *Runner, error) {
	if s.Dimensions > 0 && s.Expected > 0 && s.Dimensions != s.Expected {
		return nil, nil, s.OptionError("WithExpectedDimension", "%d contradicts WithDimensions(%d)", s.Expected, s.Dimensions)
	}
	want := s.Dimensions
	if want == 0 {
		want = s.Expected
	}
	c := NewClient(Client{
		Name: s.Name, HTTP: s.HTTP, URL: s.URL, Header: s.Header.Clone(), Policy: s.Policy,
		RequestTimeout: s.RequestTimeout, Classify: classify,
	}, s.Concurrency)
	r := &Runner{Name: s.Name, Limits: s.Limits, Workers: s.Concurrency, Isolation: s.Isolation, Dims: &Dims{Want: want}}
	return c, r, nil
}

// Validated option values.

// ParseBaseURL checks an http or https URL with a host and no query or fragment, returning
// it without a trailing slash, or why it is not acceptable.
func ParseBaseURL(raw string) (string, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err.Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Sprintf("%q is not an http or https URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Sprintf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Sprintf("%q has a query or fragment (a full endpoint URL goes to WithEndpoint)", raw)
	}
	return strings.TrimRight(u.String(), "/"), ""
}

// ParseEndpoint checks a full http or https endpoint URL (a query is allowed).
func ParseEndpoint(raw string) (string, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err.Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Sprintf("%q is not an http or https URL", raw)
	}
	if u.Host == "" {
		return "", fmt.Sprintf("%q has no host", raw)
	}
	return u.String(), ""
}

// CheckModel says what is wrong with a model name, or "".
func CheckModel(m string) string {
	switch {
	case m == "":
		return "empty model name"
	case len(m) > 256:
		return "model name longer than 256 bytes"
	case !utf8.ValidString(m):
		return "model name is not valid UTF-8"
	case strings.IndexFunc(m, unicode.IsControl) >= 0:
		return "model name holds a control character"
	}
	return ""
}

// CheckHeader says what is wrong with a header field, or "".
func CheckHeader(name, value string) string {
	if name == "" {
		return "empty header name"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return fmt.Sprintf("header name %q holds %q", name, c)
		}
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Sprintf("value of header %q holds a line break or NUL", name)
	}
	return ""
}

// Setters behind the options both embedders offer; each validates its value.

// SetModel sets the model name.
func (s *Settings) SetModel(m string) error {
	if why := CheckModel(m); why != "" {
		return s.OptionError("WithModel", "%s", why)
	}
	s.Model = m
	return nil
}

// SetHeader adds a header sent with every request.
func (s *Settings) SetHeader(option, name, value string) error {
	if why := CheckHeader(name, value); why != "" {
		return s.OptionError(option, "%s", why)
	}
	if s.Header == nil {
		s.Header = http.Header{}
	}
	s.Header.Set(name, value)
	return nil
}

// SetHTTPClient sets the HTTP client (transport, proxy, TLS settings).
func (s *Settings) SetHTTPClient(c *http.Client) error {
	if c == nil {
		return s.OptionError("WithHTTPClient", "nil client")
	}
	s.HTTP = c
	return nil
}

// SetConcurrency sets the bound on requests in flight.
func (s *Settings) SetConcurrency(n int) error {
	if n < 1 || n > 1024 {
		return s.OptionError("WithConcurrency", "%d is outside 1..1024", n)
	}
	s.Concurrency = n
	return nil
}

// SetRetry sets the retry policy.
func (s *Settings) SetRetry(maxRetries int, base, maxDelay time.Duration) error {
	switch {
	case maxRetries < 0 || maxRetries > 100:
		return s.OptionError("WithRetry", "%d retries is outside 0..100", maxRetries)
	case base <= 0:
		return s.OptionError("WithRetry", "base delay %v is not positive", base)
	case maxDelay < base:
		return s.OptionError("WithRetry", "maximum delay %v is below the base delay %v", maxDelay, base)
	}
	s.Policy.MaxRetries, s.Policy.BaseDelay, s.Policy.MaxDelay = maxRetries, base, maxDelay
	return nil
}

// SetRequestTimeout sets the bound on one attempt (0: none besides the context).
func (s *Settings) SetRequestTimeout(d time.Duration) error {
	if d < 0 {
		return s.OptionError("WithRequestTimeout", "negative timeout %v", d)
	}
	s.RequestTimeout = d
	return nil
}

// SetIsolation sets the extra requests an Embed call may spend isolating rejected texts.
func (s *Settings) SetIsolation(n int) error {
	if n < 0 {
		return s.OptionError("WithIsolationBudget", "negative budget %d", n)
	}
	s.Isolation = n
	return nil
}

// SetMaxInputs sets the most texts per request.
func (s *Settings) SetMaxInputs(n int) error {
	if n < 1 {
		return s.OptionError("WithMaxInputs", "%d is not positive", n)
	}
	s.Limits.MaxInputs = n
	return nil
}

// SetMaxRequestBytes sets the most bytes of text per request.
func (s *Settings) SetMaxRequestBytes(n int) error {
	if n < 1 {
		return s.OptionError("WithMaxRequestBytes", "%d is not positive", n)
	}
	s.Limits.MaxBytes = n
	return nil
}

// SetMaxTextBytes sets the longest text sent.
func (s *Settings) SetMaxTextBytes(n int) error {
	if n < 1 {
		return s.OptionError("WithMaxTextBytes", "%d is not positive", n)
	}
	s.Limits.MaxTextBytes = n
	return nil
}

// SetDimensions sets the dimension requested from the server.
func (s *Settings) SetDimensions(n int) error {
	if n < 1 || n > 1<<16 {
		return s.OptionError("WithDimensions", "%d is outside 1..65536", n)
	}
	s.Dimensions = n
	return nil
}

// SetExpected declares the dimension the server returns.
func (s *Settings) SetExpected(n int) error {
	if n < 1 || n > 1<<16 {
		return s.OptionError("WithExpectedDimension", "%d is outside 1..65536", n)
	}
	s.Expected = n
	return nil
}
