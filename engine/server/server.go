package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// Body limits: Twilio's largest forms (assignment callbacks with big task
// and worker attributes) stay well under 64 KiB; a command is a small JSON
// object.
const (
	DefaultMaxTwilioBody = 64 << 10
	DefaultMaxAPIBody    = 16 << 10
)

// Handle deadlines. TaskRouter falls back after 5 s and Voice gives up after
// 15 s; answering an error in time beats answering nothing.
const (
	assignmentTimeout = 4 * time.Second
	webhookTimeout    = 10 * time.Second
	apiTimeout        = 10 * time.Second
)

// Options wires a Server.
type Options struct {
	Engine *engine.Engine // required
	Store  store.Store    // required: readiness and the outbox / live gauges
	// PublicURL is the base URL Twilio uses to reach flowd
	// (e.g. https://flowd.example.com); signatures are checked against it.
	PublicURL string
	// AuthToken is the Twilio auth token that signs webhooks. Empty: every
	// /twilio/* request is refused with 503.
	AuthToken string
	// APIToken is the bearer token /v1 requires; empty leaves /v1 open.
	APIToken string
	Logger   *slog.Logger
	// MaxTwilioBody and MaxAPIBody bound request bodies (413 above);
	// 0 means the defaults.
	MaxTwilioBody int64
	MaxAPIBody    int64
}

// Server serves flowd's HTTP routes. Create it with New.
type Server struct {
	eng       *engine.Engine
	store     store.Store
	log       *slog.Logger
	validator *twilio.Validator
	noAuth    string // why /twilio/* is refused, when validator is nil
	// urlPassword is the public URL's password, if it has one (basic
	// auth in webhook URLs): signature errors name the URL, the log must
	// not name the password.
	urlPassword string
	apiToken    []byte // sha256 of the token, nil when /v1 is open
	maxTwilio   int64
	maxAPI      int64

	docs     docs
	handler  http.Handler
	metrics  *metrics
	draining atomic.Bool
	now      func() time.Time // readiness's clock (tests set it)
}

// writeFailureWindow is how long a failed store write makes /readyz fail
// when no write has succeeded since: long enough to span a few probes on
// an idle server, short enough that an idle replica is tried again.
const writeFailureWindow = 30 * time.Second

// New checks the options and builds the routes.
func New(o Options) (*Server, error) {
	if o.Engine == nil {
		return nil, errors.New("server: no engine")
	}
	if o.Store == nil {
		return nil, errors.New("server: no store")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{eng: o.Engine, store: o.Store, log: o.Logger, maxTwilio: o.MaxTwilioBody, maxAPI: o.MaxAPIBody, now: time.Now}
	if s.maxTwilio <= 0 {
		s.maxTwilio = DefaultMaxTwilioBody
	}
	if s.maxAPI <= 0 {
		s.maxAPI = DefaultMaxAPIBody
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server: public URL %q needs a scheme (http or https) and a host", redactURL(o.PublicURL))
	}
	if strings.IndexFunc(o.PublicURL, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		// Twilio requests such a URL percent-encoded, and signs that: no
		// webhook's signature would match.
		return nil, fmt.Errorf("server: public URL %q has a space or a control character; percent-encode it", redactURL(o.PublicURL))
	}
	s.urlPassword, _ = u.User.Password()
	if o.AuthToken == "" {
		s.noAuth = "flowd has no Twilio auth token (TWILIO_AUTH_TOKEN), so it cannot check X-Twilio-Signature and refuses every webhook"
	} else {
		v, err := twilio.NewValidator(strings.TrimRight(o.PublicURL, "/"), o.AuthToken)
		if err != nil {
			return nil, err
		}
		s.validator = v
	}
	if o.APIToken != "" {
		s.apiToken = tokenDigest(o.APIToken)
	}
	d, err := renderDocs()
	if err != nil {
		return nil, fmt.Errorf("server: fixed TwiML: %w", err)
	}
	s.docs = d
	s.metrics = newMetrics(s)
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP serves every route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Handler returns the routes as an http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the private Prometheus registry /metrics serves; callers may
// register more collectors on it.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Drain makes /readyz fail from now on, so load balancers stop sending new
// work before shutdown; requests still get served.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) routes() http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// No redirects: gin would answer a trailing slash (/twilio/voice/,
	// /v1/flows/) with a 301/307 of its own, before any middleware, so
	// unlogged, uncounted, HTML under /v1 and without the bearer check;
	// Twilio would sign the redirect's target differently anyway. Such a
	// path is a 404 like any other unknown one.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// Route on the path as sent, then unescape each parameter: an encoded
	// slash in a SID (/v1/tasks/WT1%2Fcommands%2Fhangup) stays part of
	// the SID instead of reaching another route.
	r.UseEscapedPath = true
	r.UnescapePathValues = true
	r.Use(s.observe)

	tw := s.twilioRequest
	r.POST(engine.PathVoice, tw, s.voice(false))
	r.GET(engine.PathVoice, tw, s.voice(false))
	r.POST(engine.PathGather, tw, s.voice(true))
	r.GET(engine.PathGather, tw, s.voice(true))
	r.POST(engine.PathCallStatus, tw, s.callStatus)
	r.GET(engine.PathCallStatus, tw, s.callStatus)
	r.POST(engine.PathAssignment, tw, s.assignment)
	r.POST(engine.PathWorkspaceEvents, tw, s.workspaceEvent)
	r.POST(engine.PathConferenceStatus, tw, s.conferenceStatus)
	r.GET(pathTwiML, tw, s.document)
	r.POST(pathTwiML, tw, s.document)

	v1 := r.Group("/v1", s.bearer)
	v1.POST("/tasks/:sid/commands/:name", s.command)
	// Every GET outside /twilio also answers HEAD (RFC 9110 9.3.2; net/http
	// drops the body). /twilio/* does not: Twilio never sends HEAD, and a
	// GET webhook there is an event, which a HEAD must not run.
	get := func(g gin.IRoutes, path string, h gin.HandlerFunc) {
		g.GET(path, h)
		g.HEAD(path, h)
	}
	get(v1, "/tasks", s.tasks)
	get(v1, "/tasks/:sid", s.task)
	get(v1, "/flows", s.flows)
	get(v1, "/flows/:name/graph", s.graph)

	get(r, "/healthz", s.healthz)
	get(r, "/readyz", s.readyz)
	get(r, "/metrics", gin.WrapH(s.metrics.handler()))

	r.NoRoute(func(c *gin.Context) { s.notFound(c, http.StatusNotFound, "not_found", "no such route") })
	r.NoMethod(func(c *gin.Context) {
		s.notFound(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
	})
	return r
}

// notFound answers unknown routes: JSON under /v1, plain text elsewhere.
func (s *Server) notFound(c *gin.Context, status int, code, msg string) {
	if strings.HasPrefix(c.Request.URL.Path, "/v1/") {
		// Every /v1 request needs the token, a route that does not exist
		// too: without it a client learns nothing, not even which routes
		// and methods there are.
		if s.bearer(c); c.IsAborted() {
			return
		}
		apiError(c, status, code, msg, nil)
		return
	}
	if strings.HasPrefix(c.Request.URL.Path, "/twilio/") {
		// Twilio only requests URLs it was given: a webhook URL mistyped
		// in the console, or a proxy that kept its path prefix. Worth a
		// warning, with the path (logRequest adds it).
		infoOf(c).warn = "no webhook route: check the URL configured in Twilio (and that a proxy strips FLOWD_PUBLIC_URL's path)"
	}
	c.String(status, msg+"\n")
}
