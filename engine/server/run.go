package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// Defaults for Config fields left empty.
const (
	DefaultAddr            = ":8080"
	DefaultFlows           = "flows"
	DefaultStore           = "sqlite:flowd.db"
	DefaultPublicURL       = "http://localhost:8080"
	DefaultReloadInterval  = 2 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
	DefaultFlushTimeout    = 10 * time.Second
	// Finished calls are kept 30 days (as long as Twilio keeps Studio
	// executions); idempotency keys a day, far longer than Twilio retries.
	DefaultRetain        = 30 * 24 * time.Hour
	DefaultRetainKeys    = 24 * time.Hour
	DefaultPruneInterval = 10 * time.Minute
)

// Config is everything `flowd serve` needs. ConfigFromEnv fills it from the
// environment; flags may override fields.
type Config struct {
	Addr     string       // FLOWD_ADDR, default :8080
	Listener net.Listener // if set, served instead of listening on Addr (tests)
	// Flows are flow files or directories of them (FLOWD_FLOWS, a
	// path list; default "flows").
	Flows []string
	// Store is the store DSN (FLOWD_STORE): memory:, sqlite:PATH or
	// postgres://…; default sqlite:flowd.db.
	Store string
	// PublicURL is the base URL Twilio uses to reach flowd
	// (FLOWD_PUBLIC_URL); webhook signatures are checked against it and
	// callback URLs are built from it. Default http:// and the host and
	// port of Addr, localhost for no host or an unspecified one
	// (http://localhost:8080), with a warning.
	PublicURL string

	AccountSid string // TWILIO_ACCOUNT_SID
	AuthToken  string // TWILIO_AUTH_TOKEN: signs webhooks; REST credential unless an API key is set
	APIKey     string // TWILIO_API_KEY (SK…), REST only
	APISecret  string // TWILIO_API_SECRET
	// TwilioAPIURL sends REST calls there instead of Twilio
	// (FLOWD_TWILIO_API_URL; a stand-in such as twiliosim).
	TwilioAPIURL string
	Edge, Region string // TWILIO_EDGE, TWILIO_REGION

	// APIToken is the bearer token /v1 requires (FLOWD_API_TOKEN); empty
	// leaves /v1 open, which the log says at start.
	APIToken string

	// Env is what flows read as env.NAME. Default: the process
	// environment minus flowd's and Twilio's secrets.
	Env map[string]string

	Logger *slog.Logger
	// Sender, if set, replaces the Twilio REST client (tests, stand-ins).
	Sender engine.Sender

	// ReloadInterval is how often flow files' mtimes are polled (default
	// 2 s; negative: never, SIGHUP only).
	ReloadInterval time.Duration
	// DrainDelay: once ctx ends, /readyz fails and requests are still
	// served this long before the listener closes, so a load balancer
	// sees the failing probe and stops routing here first.
	DrainDelay time.Duration
	// ShutdownTimeout bounds waiting for in-flight requests; FlushTimeout
	// bounds sending the outbox after them.
	ShutdownTimeout time.Duration
	FlushTimeout    time.Duration
	// Ready, if set, is called once the server accepts connections.
	Ready func(addr net.Addr)

	// Retain is how long a finished call (its session, aliases, history
	// and outbox items) is kept after its last change (FLOWD_RETAIN,
	// default 30 days); RetainKeys how long idempotency keys and their
	// replies are kept (FLOWD_RETAIN_KEYS, default 24 h). Negative: kept
	// forever. ParseRetention reads the variables' format.
	Retain, RetainKeys time.Duration
	// PruneInterval is how often the pruner runs (default 10 minutes).
	PruneInterval time.Duration

	// TrimmedEnv names the variables ConfigFromEnv removed surrounding
	// whitespace from (a secret mounted from a file usually ends in a
	// newline, which would make every signature and bearer token
	// mismatch); Run warns about each, without its value.
	TrimmedEnv []string
}

// ParseRetention reads a retention setting: a Go duration ("72h"), a
// number of days ("30d"), or "off" (keep forever, returned as -1). Empty
// means the default (0). Anything under a minute or over a century is
// refused as a likely typo.
func ParseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	switch {
	case v == "":
		return 0, nil
	case strings.EqualFold(v, "off"):
		return -1, nil
	case strings.HasSuffix(v, "d"):
		days, err := strconv.ParseFloat(strings.TrimSuffix(v, "d"), 64)
		if err != nil || !(days > 0 && days <= 36500) { // also refuses NaN
			return 0, fmt.Errorf("retention %q: want a number of days (30d), a duration (72h) or off", v)
		}
		d = time.Duration(days * float64(24*time.Hour))
	default:
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, fmt.Errorf("retention %q: want a duration (72h), a number of days (30d) or off", v)
		}
	}
	if d < time.Minute || d > 36500*24*time.Hour {
		return 0, fmt.Errorf("retention %q: want at least a minute and at most a century (or off)", v)
	}
	return d, nil
}

// ConfigFromEnv reads the FLOWD_* and TWILIO_* variables with getenv
// (os.Getenv in flowd). Unset variables leave fields empty; Run applies
// the defaults. Surrounding whitespace is removed from every value (a
// Kubernetes secret made with --from-file keeps the file's last newline,
// and a token with it matches no signature); the names of the variables
// that had some are in TrimmedEnv, for Run to warn about.
func ConfigFromEnv(getenv func(string) string) Config {
	var cfg Config
	get := func(name string) string {
		v := getenv(name)
		if t := strings.TrimSpace(v); t != v {
			cfg.TrimmedEnv = append(cfg.TrimmedEnv, name)
			return t
		}
		return v
	}
	cfg.Addr = get("FLOWD_ADDR")
	cfg.Store = get("FLOWD_STORE")
	cfg.PublicURL = get("FLOWD_PUBLIC_URL")
	cfg.AccountSid = get("TWILIO_ACCOUNT_SID")
	cfg.AuthToken = get("TWILIO_AUTH_TOKEN")
	cfg.APIKey = get("TWILIO_API_KEY")
	cfg.APISecret = get("TWILIO_API_SECRET")
	cfg.TwilioAPIURL = get("FLOWD_TWILIO_API_URL")
	cfg.Edge = get("TWILIO_EDGE")
	cfg.Region = get("TWILIO_REGION")
	cfg.APIToken = get("FLOWD_API_TOKEN")
	if v := getenv("FLOWD_FLOWS"); v != "" {
		cfg.Flows = SplitPaths(v) // trims each path
	}
	return cfg
}

// SplitPaths splits a path list (the OS list separator, or commas).
func SplitPaths(v string) []string {
	var out []string
	for _, p := range filepath.SplitList(v) {
		for _, q := range strings.Split(p, ",") {
			if q = strings.TrimSpace(q); q != "" {
				out = append(out, q)
			}
		}
	}
	return out
}

// ProcessEnv is the process environment without secrets, for flows.
func ProcessEnv() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	for _, k := range flow.SecretEnv {
		delete(env, k)
	}
	return env
}

// checkAddr refuses a listen address without a port, before a warning
// names a public URL on another port: "8090" is a host name to net.Listen,
// not a port.
func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		if _, nerr := strconv.ParseUint(addr, 10, 16); nerr == nil {
			return fmt.Errorf("listen address %q (FLOWD_ADDR, -addr) has no colon: write \":%s\" to listen on port %s", addr, addr, addr)
		}
		return fmt.Errorf("listen address %q (FLOWD_ADDR, -addr): want host:port or :port (e.g. \":8080\", \"127.0.0.1:8080\")", addr)
	}
	return nil
}

// localURL is the public URL assumed when none is set: this machine, on the
// port flowd listens on (http://localhost:8080 by default), so that a
// request signed for what a local tool reaches is checked against the same
// URL.
func localURL(ln net.Listener, addr string) string {
	if ln != nil {
		addr = ln.Addr().String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return DefaultPublicURL
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Run serves until ctx ends, then shuts down gracefully: readiness fails,
// in-flight requests finish (ShutdownTimeout), the outbox dispatcher stops
// and what is due in the outbox is sent (FlushTimeout). It returns an error
// if it cannot start (bad flows, store, credentials, address).
func Run(ctx context.Context, cfg Config) error {
	// SIGHUP is flowd's from the first moment to the last: its default
	// action kills the process. One during the start (loading flows,
	// opening or upgrading the store) waits in hup and reloads once the
	// reloader runs; one during the shutdown, once the reloader has
	// stopped, waits unread (a config tool reloading during a rolling
	// restart must not cut off requests in flight or the outbox flush).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	// The first lines say what will not work, before anything else (flow
	// diagnostics, the store) can scroll them away.
	if cfg.AuthToken == "" {
		log.Error("TWILIO_AUTH_TOKEN is not set: flowd cannot check X-Twilio-Signature, so every /twilio/* webhook is refused with 503")
	}
	for _, name := range cfg.TrimmedEnv {
		log.Warn(name+" had whitespace around its value (a secret file's last newline?); removed it", "variable", name)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Listener == nil {
		if err := checkAddr(cfg.Addr); err != nil {
			return err
		}
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = localURL(cfg.Listener, cfg.Addr)
		log.Warn("FLOWD_PUBLIC_URL is not set: using " + cfg.PublicURL + "; Twilio cannot reach that, and signatures of requests sent to any other URL will not match")
	}
	if cfg.APIToken == "" {
		log.Warn("FLOWD_API_TOKEN is not set: /v1 is open to anyone who can reach this server")
	}
	if cfg.Sender == nil && cfg.AccountSid == "" {
		log.Warn("TWILIO_ACCOUNT_SID is not set: flowd answers webhooks but cannot make REST calls (hold, transfer, supervise … will fail)")
	}
	if len(cfg.Flows) == 0 {
		cfg.Flows = []string{DefaultFlows}
	}
	if cfg.Store == "" {
		cfg.Store = DefaultStore
	}
	if cfg.Env == nil {
		cfg.Env = ProcessEnv()
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = DefaultFlushTimeout
	}
	if cfg.Retain == 0 {
		cfg.Retain = DefaultRetain
	}
	if cfg.RetainKeys == 0 {
		cfg.RetainKeys = DefaultRetainKeys
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if gin.Mode() == gin.DebugMode && os.Getenv(gin.EnvGinMode) == "" {
		// Debug mode prints every route to stdout, outside the JSON log.
		gin.SetMode(gin.ReleaseMode)
	}

	rl := &reloader{paths: cfg.Flows, opts: flow.LoadOptions{Env: cfg.Env}, log: log}
	rl.last = fingerprint(cfg.Flows)
	set, diags := flow.LoadSet(cfg.Flows, rl.opts)
	if diags.HasErrors() {
		return fmt.Errorf("flows in %s are invalid:\n%s", strings.Join(cfg.Flows, ", "), formatDiagnostics(diags))
	}
	logWarnings(log, diags)
	if set == nil || len(set.Flows) == 0 {
		log.Warn("no flows loaded: /readyz reports not ready until a flow file appears", "flows", cfg.Flows)
	}

	st, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Warn("closing the store", "error", err)
		}
	}()
	if err := saveRevisions(ctx, st, set, cfg.Store); err != nil {
		return err
	}

	sender := cfg.Sender
	if sender == nil {
		if sender, err = twilioSender(cfg, log); err != nil {
			return err
		}
	}
	eng, err := engine.New(engine.Config{Store: st, Twilio: sender, PublicURL: cfg.PublicURL, Logger: log, FlowEnv: cfg.Env}, set)
	if err != nil {
		return err
	}
	srv, err := New(Options{Engine: eng, Store: st, PublicURL: cfg.PublicURL, AuthToken: cfg.AuthToken, APIToken: cfg.APIToken, Logger: log})
	if err != nil {
		return err
	}
	rl.eng, rl.metrics = eng, srv.metrics

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return err
		}
	}
	hs := &http.Server{
		Handler: srv,
		// Twilio gives up on voice after 15 s; nothing legitimate takes
		// longer, and slow clients must not hold connections.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// The dispatcher outlives ctx: it stops only after in-flight requests
	// have queued their last REST calls.
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		if err := eng.Run(dispatchCtx); err != nil {
			log.Error("outbox dispatcher stopped", "error", err)
		}
	}()

	reloadCtx, stopReload := context.WithCancel(ctx)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		rl.run(reloadCtx, cfg.ReloadInterval, hup)
	}()

	pruneCtx, stopPrune := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		runPruner(pruneCtx, eng, cfg, log)
	}()

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("flowd serving", "addr", ln.Addr().String(), "public_url", redactURL(cfg.PublicURL),
		"store", store.Redact(cfg.Store), "flows", flowNames(set), "api_auth", cfg.APIToken != "",
		"retain", retentionText(cfg.Retain), "retain_keys", retentionText(cfg.RetainKeys))
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-served:
		runErr = fmt.Errorf("http server: %w", err)
	}

	srv.Drain()
	if cfg.DrainDelay > 0 && runErr == nil {
		log.Info("draining: /readyz fails, still serving", "for", cfg.DrainDelay.String())
		time.Sleep(cfg.DrainDelay)
	}
	stopReload()
	<-reloaded
	stopPrune()
	<-pruned
	shCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	if err := hs.Shutdown(shCtx); err != nil {
		log.Warn("in-flight requests did not finish in time", "timeout", cfg.ShutdownTimeout, "error", err)
		hs.Close()
	}
	cancel()
	stopDispatch()
	<-dispatched
	flushCtx, cancel := context.WithTimeout(context.Background(), cfg.FlushTimeout)
	defer cancel()
	if err := eng.Flush(flushCtx); err != nil {
		log.Warn("outbox not fully sent before shutdown; the next start sends the rest", "error", err)
	}
	if n, err := st.Pending(flushCtx); err == nil && n > 0 {
		log.Warn("outbox items left for the next start", "pending", n)
	}
	log.Info("stopped")
	return runErr
}

// saveRevisions stores the flows' revisions before anything is served:
// the first write of every start, and one that must go through. A store
// that opens but cannot write (a read-only SQLite file has nothing to
// migrate) would otherwise start, look ready and fail every webhook. The
// engine saves them again when it starts (a no-op by then).
func saveRevisions(ctx context.Context, st store.Store, set *flow.Set, dsn string) error {
	if set == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := engine.SaveRevisions(ctx, st, set)
	if err == nil {
		return nil
	}
	hint := ""
	if store.IsReadOnly(err) {
		if strings.HasPrefix(dsn, "sqlite:") {
			hint = "; the SQLite file is read-only to flowd: it must be able to write the file and create PATH-wal and PATH-shm beside it (check both permissions, the owner flowd runs as, and whether the volume is mounted read-only)"
		} else {
			hint = "; PostgreSQL refuses the write: connect to the primary (not a standby) as a role that may write flowd's tables"
		}
	}
	return fmt.Errorf("the store cannot be written (saving the flows' revisions): %w%s", err, hint)
}

// runPruner deletes what the retention settings no longer keep: once at
// start (a server that was down catches up), then every PruneInterval.
func runPruner(ctx context.Context, eng *engine.Engine, cfg Config, log *slog.Logger) {
	if cfg.Retain < 0 && cfg.RetainKeys < 0 {
		return
	}
	t := time.NewTicker(cfg.PruneInterval)
	defer t.Stop()
	for {
		pruneOnce(ctx, eng, time.Now(), cfg, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce prunes what is older than the retention settings at now.
func pruneOnce(ctx context.Context, eng *engine.Engine, now time.Time, cfg Config, log *slog.Logger) store.Pruned {
	var r store.Retention
	if cfg.Retain > 0 {
		r.FinishedBefore = now.Add(-cfg.Retain)
	}
	if cfg.RetainKeys > 0 {
		r.KeysBefore = now.Add(-cfg.RetainKeys)
	}
	p, err := eng.Prune(ctx, r)
	if err != nil && ctx.Err() == nil {
		log.Warn("pruning old calls and idempotency keys failed; the next round tries again", "error", err,
			"sessions", p.Sessions, "keys", p.Keys)
	} else if p.Sessions > 0 || p.Keys > 0 {
		log.Info("pruned", "sessions", p.Sessions, "keys", p.Keys,
			"finished_before", r.FinishedBefore, "keys_before", r.KeysBefore)
	}
	return p
}

func retentionText(d time.Duration) string {
	if d < 0 {
		return "off"
	}
	return d.String()
}

// twilioSender builds the REST client, or nil (Run warned at start) when no
// account is configured: the engine then fails each REST call and tells the
// flow (action.failed).
func twilioSender(cfg Config, log *slog.Logger) (engine.Sender, error) {
	if cfg.AccountSid == "" {
		return nil, nil // Run said so in its first lines
	}
	c, err := twilio.NewClient(twilio.Config{AccountSid: cfg.AccountSid, AuthToken: cfg.AuthToken,
		APIKey: cfg.APIKey, APISecret: cfg.APISecret, BaseURL: cfg.TwilioAPIURL, Edge: cfg.Edge, Region: cfg.Region})
	if err != nil {
		return nil, err
	}
	if cfg.TwilioAPIURL != "" {
		log.Warn("REST calls go to FLOWD_TWILIO_API_URL, not Twilio", "url", redactURL(cfg.TwilioAPIURL))
	}
	return c, nil
}

// RedactStore is the store DSN fit for a log line or a usage text: a
// PostgreSQL password replaced by xxxxx (store.Redact).
func RedactStore(dsn string) string { return store.Redact(dsn) }

// redactURL is u without the password of its user info, if it has one.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(not a URL)"
	}
	return u.Redacted()
}

func flowNames(set *flow.Set) []string {
	if set == nil {
		return nil
	}
	out := make([]string, 0, len(set.Flows))
	for _, f := range set.Flows {
		out = append(out, f.Name+"@"+short(f.Revision))
	}
	return out
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func formatDiagnostics(ds flow.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func logWarnings(log *slog.Logger, ds flow.Diagnostics) {
	for _, d := range ds {
		if d.Severity != flow.SeverityError {
			log.Warn("flow", "diagnostic", d.String())
		}
	}
}
