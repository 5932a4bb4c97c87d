package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// DefaultTimeout bounds one REST call when Config.HTTPClient is nil.
const DefaultTimeout = 10 * time.Second

// Config says how to reach Twilio's REST API.
type Config struct {
	AccountSid string // AC…; required

	// Credentials: either the account's auth token, or an API key SID (SK…)
	// and its secret. The API key wins when both are given.
	AuthToken string
	APIKey    string
	APISecret string

	// BaseURL, if set (e.g. "http://127.0.0.1:8099" or "https://egress.internal/twilio"),
	// receives every REST call instead of Twilio: its scheme and host replace
	// Twilio's and its path, if any, is put in front of Twilio's path; the
	// query is kept. For a stand-in server or an egress proxy. Edge and
	// Region are then ignored.
	BaseURL string

	// Edge and Region select Twilio's global infrastructure (the values of
	// TWILIO_EDGE / TWILIO_REGION, e.g. "dublin" / "ie1"): twilio-go then
	// sends to api.<edge>.<region>.twilio.com and taskrouter.<edge>.<region>.twilio.com
	// instead of api.twilio.com. An edge without a region implies region us1.
	// Unlike twilio-go's default, the environment is not read here: the
	// caller decides (usually by copying those variables into Config).
	Edge   string
	Region string

	// HTTPClient, if set, is used for every call (its Transport, Timeout and
	// Jar); redirects are never followed. Default: DefaultTimeout.
	HTTPClient *http.Client
}

// Client performs Ops against Twilio's REST API. It is safe for concurrent use.
type Client struct {
	accountSid string
	creds      *client.Credentials
	base       *url.URL
	edge       string
	region     string
	transport  http.RoundTripper
	timeout    time.Duration
	jar        http.CookieJar
}

// twilio-go refuses credentials that are not alphanumeric (errors 21222,
// 21224); say so when the client is built rather than on the first call.
var alnum = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.AccountSid == "" {
		return nil, errors.New("twilio: missing account SID")
	}
	if !strings.HasPrefix(cfg.AccountSid, "AC") || !alnum.MatchString(cfg.AccountSid) {
		return nil, fmt.Errorf("twilio: account SID %q does not look like AC…", cfg.AccountSid)
	}
	var creds *client.Credentials
	switch {
	case cfg.APIKey != "" || cfg.APISecret != "":
		if cfg.APIKey == "" || cfg.APISecret == "" {
			return nil, errors.New("twilio: an API key needs both the key SID and its secret")
		}
		if !alnum.MatchString(cfg.APIKey) || !alnum.MatchString(cfg.APISecret) {
			return nil, errors.New("twilio: API key or secret has characters other than letters and digits")
		}
		creds = client.NewCredentials(cfg.APIKey, cfg.APISecret)
	case cfg.AuthToken != "":
		if !alnum.MatchString(cfg.AuthToken) {
			return nil, errors.New("twilio: auth token has characters other than letters and digits")
		}
		creds = client.NewCredentials(cfg.AccountSid, cfg.AuthToken)
	default:
		return nil, errors.New("twilio: no credentials: set an auth token or an API key and secret")
	}
	c := &Client{
		accountSid: cfg.AccountSid,
		creds:      creds,
		edge:       cfg.Edge,
		region:     cfg.Region,
		transport:  http.DefaultTransport,
		timeout:    DefaultTimeout,
	}
	if hc := cfg.HTTPClient; hc != nil {
		if hc.Transport != nil {
			c.transport = hc.Transport
		}
		c.timeout = hc.Timeout
		c.jar = hc.Jar
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("twilio: base URL: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("twilio: base URL %q needs a scheme (http or https) and a host", cfg.BaseURL)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("twilio: base URL %q must not have a query or fragment", cfg.BaseURL)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		c.base = u
	}
	return c, nil
}

// AccountSid is the account the client acts for.
func (c *Client) AccountSid() string { return c.accountSid }

// Result is what a successful operation returned.
type Result struct {
	Status int             `json:"status"`         // HTTP status
	Sid    string          `json:"sid,omitempty"`  // SID of what was created/updated (the call SID for a participant)
	Body   json.RawMessage `json:"body,omitempty"` // the decoded resource, re-encoded
}

// Do sends op. Errors are *Error (see IsGone, IsDuplicateLabel, IsTemporary);
// an invalid op fails before anything is sent. Canceling ctx aborts the call,
// though Twilio may already have acted on it.
func (c *Client) Do(ctx context.Context, op Op) (Result, error) {
	if err := op.Validate(); err != nil {
		return Result{}, &Error{Op: op.Kind, Message: err.Error(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, &Error{Op: op.Kind, Message: err.Error(), Temporary: true, Err: err}
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel() // twilio-go has read and closed the body by the time it returns
	}
	bc := c.callClient(ctx)
	rh := client.NewRequestHandler(bc)
	rh.Edge, rh.Region = c.edge, c.region
	voice := api.NewApiService(rh)
	taskrouter := tr.NewApiService(rh)

	var (
		resource any
		sid      *string
		err      error
	)
	// Path segments that may hold names rather than SIDs (a conference's
	// friendly name, a participant label) are escaped here: twilio-go pastes
	// them into the path verbatim.
	seg := url.PathEscape
	switch op.Kind {
	case OpCreateParticipant:
		var p *api.ApiV2010Participant
		if p, err = voice.CreateParticipant(seg(op.ConferenceSid), op.CreateParticipant); p != nil {
			resource, sid = p, p.CallSid
		}
	case OpUpdateParticipant:
		var p *api.ApiV2010Participant
		if p, err = voice.UpdateParticipant(seg(op.ConferenceSid), seg(op.Participant), op.UpdateParticipant); p != nil {
			resource, sid = p, p.CallSid
		}
	case OpDeleteParticipant:
		err = voice.DeleteParticipant(seg(op.ConferenceSid), seg(op.Participant), nil)
	case OpUpdateCall:
		var p *api.ApiV2010Call
		if p, err = voice.UpdateCall(seg(op.CallSid), op.UpdateCall); p != nil {
			resource, sid = p, p.Sid
		}
	case OpUpdateConference:
		var p *api.ApiV2010Conference
		if p, err = voice.UpdateConference(seg(op.ConferenceSid), op.UpdateConference); p != nil {
			resource, sid = p, p.Sid
		}
	case OpCreateTask:
		var p *tr.TaskrouterV1Task
		if p, err = taskrouter.CreateTask(seg(op.WorkspaceSid), op.CreateTask); p != nil {
			resource, sid = p, p.Sid
		}
	case OpFindTask:
		// One page of one: only whether a match exists, and its SID.
		params := *op.FindTask
		params.PageSize, params.Limit = ptr(1), ptr(1)
		var ts []tr.TaskrouterV1Task
		if ts, err = taskrouter.ListTask(seg(op.WorkspaceSid), &params); err == nil {
			resource = ts
			if len(ts) > 0 {
				sid = ts[0].Sid
			}
		}
	case OpUpdateTask:
		var p *tr.TaskrouterV1Task
		if p, err = taskrouter.UpdateTask(seg(op.WorkspaceSid), seg(op.TaskSid), op.UpdateTask); p != nil {
			resource, sid = p, p.Sid
		}
	case OpUpdateReservation:
		var p *tr.TaskrouterV1TaskReservation
		if p, err = taskrouter.UpdateTaskReservation(seg(op.WorkspaceSid), seg(op.TaskSid), seg(op.ReservationSid), op.UpdateReservation); p != nil {
			resource, sid = p, p.Sid
		}
	case OpUpdateWorker:
		var p *tr.TaskrouterV1Worker
		if p, err = taskrouter.UpdateWorker(seg(op.WorkspaceSid), seg(op.WorkerSid), op.UpdateWorker); p != nil {
			resource, sid = p, p.Sid
		}
	}
	status, header := bc.capture.get()
	if err != nil {
		return Result{}, classify(op.Kind, err, status, header)
	}
	res := Result{Status: status}
	if sid != nil {
		res.Sid = *sid
	}
	if resource != nil {
		if body, err := json.Marshal(resource); err == nil {
			res.Body = body
		}
	}
	return res, nil
}

// callClient builds the twilio-go BaseClient for one call. It is cheap, and
// per call so that the response status and headers (Retry-After) of this
// call can be captured and ctx (with the timeout) can reach the request:
// twilio-go builds its requests with context.Background and drops the
// response on errors.
func (c *Client) callClient(ctx context.Context) *baseClient {
	cp := &capture{}
	inner := &client.Client{
		Credentials: c.creds,
		HTTPClient: &http.Client{
			// No Timeout here: Do puts it on ctx, which replaces the
			// request's context in captureTransport.
			Transport: &captureTransport{ctx: ctx, next: c.transport, capture: cp},
			Jar:       c.jar,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	inner.SetAccountSid(c.accountSid)
	return &baseClient{Client: inner, base: c.base, capture: cp}
}

// baseClient wraps twilio-go's client to send to Config.BaseURL. The rewrite
// happens in SendRequest, after RequestHandler.BuildUrl has applied edge and
// region: BuildUrl rewrites any host with dots in it, so an earlier rewrite
// would be undone.
type baseClient struct {
	*client.Client
	base    *url.URL
	capture *capture
}

// SendRequest implements client.BaseClient.
func (b *baseClient) SendRequest(method, rawURL string, data url.Values, headers map[string]any, body ...byte) (*http.Response, error) {
	if b.base != nil {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, err
		}
		u.Scheme, u.Host, u.User = b.base.Scheme, b.base.Host, nil
		if prefix := b.base.Path; prefix != "" {
			if u.RawPath != "" {
				u.RawPath = b.base.EscapedPath() + u.RawPath
			}
			u.Path = prefix + u.Path
		}
		rawURL = u.String()
	}
	return b.Client.SendRequest(method, rawURL, data, headers, body...)
}

// capture holds the status and headers of the last response of one call.
type capture struct {
	mu     sync.Mutex
	status int
	header http.Header
}

func (c *capture) set(status int, h http.Header) {
	c.mu.Lock()
	c.status, c.header = status, h
	c.mu.Unlock()
}

func (c *capture) get() (int, http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.header
}

type captureTransport struct {
	ctx     context.Context
	next    http.RoundTripper
	capture *capture
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req.WithContext(t.ctx))
	if resp != nil {
		t.capture.set(resp.StatusCode, resp.Header.Clone())
	}
	return resp, err
}

func ptr[T any](v T) *T { return &v }
