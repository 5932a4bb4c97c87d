package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/flowd/flowd/engine"
)

// reqInfo collects what a handler learned about a request (SIDs, outcome),
// for the access log line and for a panic's log line.
type reqInfo struct {
	task, call, conference, reservation, session string
	event, state                                 string
	duplicate                                    bool
	warn                                         string // logged at WARN: answered, but worth a look
	err                                          error  // logged at ERROR
	// expected marks a 5xx that is the right answer (a readiness probe
	// failing during a drain or without an auth token, as flowd said
	// when it happened): logged like any probe, not as an error.
	expected bool
}

const infoKey = "flowd.req"

func infoOf(c *gin.Context) *reqInfo {
	if v, ok := c.Get(infoKey); ok {
		return v.(*reqInfo)
	}
	// Only reached if a handler runs without observe (not in routes()).
	info := &reqInfo{}
	c.Set(infoKey, info)
	return info
}

// observe wraps every request: metrics, one log line, and recovery, so a
// panic is logged with the call's SIDs and answered 500 instead of tearing
// down the connection.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	info := &reqInfo{}
	c.Set(infoKey, info)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.metrics.panics.Inc()
			info.err = fmt.Errorf("panic: %v", v)
			s.log.LogAttrs(context.Background(), slog.LevelError, "panic serving request", info.appendAttrs([]slog.Attr{
				slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack()))})...)
			if !c.Writer.Written() {
				if strings.HasPrefix(c.Request.URL.Path, "/v1/") {
					apiError(c, http.StatusInternalServerError, "internal", "internal error", nil)
				} else {
					c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
				}
			}
			c.Abort()
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		d := time.Since(start)
		s.metrics.observe(route, c.Request.Method, status, d)
		s.logRequest(c.Request, route, status, d, info)
	}()
	c.Next()
}

// addressedBy logs the {sid} of a /v1/tasks route under the field its kind
// names: a CallSid (CA…) as call_sid, a ConferenceSid (CF…) as
// conference_sid, anything else (a TaskSid, or what flowd does not know) as
// task_sid.
func (i *reqInfo) addressedBy(sid string) {
	// A SID is 34 characters; a client may put anything in the path,
	// and each log line must not carry all of it.
	sid = clip(sid, maxLoggedSID)
	switch {
	case strings.HasPrefix(sid, "CA"):
		i.call = sid
	case strings.HasPrefix(sid, "CF"):
		i.conference = sid
	default:
		i.task = sid
	}
}

// resolved adds the SIDs the call turned out to have, where the request
// did not name them: the task (the open one, else the first), the caller's
// call and the conference.
func (i *reqInfo) resolved(v engine.TaskView) {
	if i.task == "" {
		i.task = v.TaskSid
		if len(v.OpenTasks) > 0 {
			i.task = v.OpenTasks[0]
		}
	}
	if i.call == "" {
		i.call = v.CallSid
	}
	if i.conference == "" {
		i.conference = v.ConferenceSid
	}
}

// appendAttrs adds the SIDs and outcome known so far.
func (i *reqInfo) appendAttrs(a []slog.Attr) []slog.Attr {
	add := func(k, v string) {
		if v != "" {
			a = append(a, slog.String(k, v))
		}
	}
	add("task_sid", i.task)
	add("call_sid", i.call)
	add("conference_sid", i.conference)
	add("reservation_sid", i.reservation)
	add("session", i.session)
	add("event", i.event)
	add("state", i.state)
	return a
}

func (s *Server) logRequest(r *http.Request, route string, status int, d time.Duration, info *reqInfo) {
	level := slog.LevelInfo
	switch {
	case info.err != nil || status >= 500 && !info.expected:
		level = slog.LevelError
	case info.warn != "" || status == http.StatusForbidden || status == http.StatusUnauthorized:
		level = slog.LevelWarn
	case route == "/healthz" || route == "/readyz" || route == "/metrics":
		// Probes and scrapes every few seconds would drown the calls.
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 14)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("ms", float64(d.Microseconds())/1000),
	)
	if route == "unmatched" {
		// No route to name: the path says what was asked for (a webhook
		// URL mistyped in the console, a proxy that kept its prefix).
		attrs = append(attrs, slog.String("path", clip(r.URL.EscapedPath(), maxLoggedPath)))
	}
	attrs = info.appendAttrs(attrs)
	if info.duplicate {
		attrs = append(attrs, slog.Bool("duplicate", true))
	}
	if info.warn != "" {
		attrs = append(attrs, slog.String("warning", info.warn))
	}
	if info.err != nil {
		attrs = append(attrs, slog.String("error", info.err.Error()))
	}
	s.log.LogAttrs(ctx, level, "http", attrs...)
}

// maxLoggedPath bounds the path an unmatched request logs, maxLoggedSID a
// {sid} from a /v1 path (Twilio's SIDs have 34 characters).
const (
	maxLoggedPath = 256
	maxLoggedSID  = 64
)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // not in the middle of a character
	}
	return s[:n] + "…"
}

// handleContext bounds Engine.Handle so the answer reaches Twilio before
// Twilio gives up on it.
func handleContext(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), d)
}
