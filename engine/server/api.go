package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/flowd/flowd/engine"
	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
)

// ErrorResponse is the body of every /v1 error, for clients that decode it.
type ErrorResponse struct {
	Error APIError `json:"error"`
}

// APIError is one /v1 error. Code is stable (see the package doc); Message
// is for humans.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Allowed lists the commands the task accepts now (not_allowed; always
	// present, possibly empty, in that case).
	Allowed []string `json:"allowed,omitempty"`
	// State is the task's current state (not_allowed).
	State string `json:"state,omitempty"`
	// Param names the offending parameter (invalid_params), when one is.
	Param string `json:"param,omitempty"`
}

// FlowSummary is one entry of GET /v1/flows.
type FlowSummary struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	File        string   `json:"file,omitempty"`
	Numbers     []string `json:"numbers"`
	Revision    string   `json:"revision"`
	Initial     string   `json:"initial"`
	States      []string `json:"states"`
	Commands    []string `json:"commands"`
}

// IdempotencyKeyHeader lets an API client make a command safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"

const maxIdempotencyKey = 255

func tokenDigest(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// bearer guards /v1. Digests are compared so neither the token's bytes nor
// its length leak through timing.
func (s *Server) bearer(c *gin.Context) {
	if s.apiToken == nil {
		return
	}
	h := c.GetHeader("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") ||
		subtle.ConstantTimeCompare(tokenDigest(strings.TrimSpace(tok)), s.apiToken) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="flowd"`)
		apiError(c, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token (Authorization: Bearer FLOWD_API_TOKEN)", nil)
		c.Abort()
	}
}

// apiError writes a /v1 error; extra adds code-specific fields.
func apiError(c *gin.Context, status int, code, msg string, extra map[string]any) {
	e := map[string]any{"code": code, "message": msg}
	for k, v := range extra {
		e[k] = v
	}
	if status >= 400 && status < 500 && status != http.StatusNotFound {
		infoOf(c).warn = code + ": " + msg
	}
	b, err := json.Marshal(map[string]any{"error": e})
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"could not encode the error"}}`)
	}
	c.Data(status, jsonType, b)
	c.Abort()
}

func writeJSON(c *gin.Context, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		infoOf(c).err = err
		apiError(c, http.StatusInternalServerError, "internal", "could not encode the answer", nil)
		return
	}
	c.Data(http.StatusOK, jsonType, b)
}

// engineError maps the engine's errors to statuses and codes.
func (s *Server) engineError(c *gin.Context, err error, key string) {
	var (
		ce *engine.CommandError
		pe *engine.ParamError
		ue *engine.UnknownCommandError
		kr *engine.KeyReusedError
		tc *engine.TaskClosedError
	)
	switch {
	case errors.Is(err, engine.ErrUnknownSession):
		apiError(c, http.StatusNotFound, "unknown_task", fmt.Sprintf("no task or call %q", clip(key, maxLoggedSID)), nil)
	case errors.As(err, &ue):
		apiError(c, http.StatusNotFound, "unknown_command", ue.Error(), nil)
	case errors.As(err, &ce):
		allowed := ce.Allowed
		if allowed == nil {
			allowed = []string{}
		}
		apiError(c, http.StatusConflict, "not_allowed", ce.Error(), map[string]any{"allowed": allowed, "state": ce.State})
	case errors.As(err, &tc):
		open := tc.Open
		if open == nil {
			open = []string{}
		}
		apiError(c, http.StatusConflict, "task_closed", tc.Error(), map[string]any{"open_tasks": open, "call_sid": tc.CallSid})
	case errors.As(err, &kr):
		apiError(c, http.StatusUnprocessableEntity, "idempotency_key_reused", kr.Error(), nil)
	case errors.As(err, &pe):
		var extra map[string]any
		if pe.Param != "" {
			extra = map[string]any{"param": pe.Param}
		}
		apiError(c, http.StatusUnprocessableEntity, "invalid_params", pe.Error(), extra)
	case errors.Is(err, context.DeadlineExceeded):
		infoOf(c).err = err
		apiError(c, http.StatusServiceUnavailable, "unavailable", "the engine did not answer in time; retry with the same Idempotency-Key", nil)
	default:
		infoOf(c).err = err
		apiError(c, http.StatusInternalServerError, "internal", "internal error", nil)
	}
}

// command serves POST /v1/tasks/{TaskSid}/commands/{name}.
func (s *Server) command(c *gin.Context) {
	sid, name := c.Param("sid"), c.Param("name")
	info := infoOf(c)
	info.addressedBy(sid)
	body, err := readBody(c, s.maxAPI)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			apiError(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over %d bytes", s.maxAPI), nil)
			return
		}
		apiError(c, http.StatusBadRequest, "invalid_request", "could not read the body: "+err.Error(), nil)
		return
	}
	params := map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		if ct := c.GetHeader("Content-Type"); ct != "" && !isJSON(ct) {
			apiError(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "want application/json, got "+ct, nil)
			return
		}
		var be *bodyError
		if params, be = decodeParams(body); be != nil {
			var extra map[string]any
			if be.param != "" {
				extra = map[string]any{"param": be.param}
			}
			apiError(c, be.status, be.code, be.msg, extra)
			return
		}
	}
	key := c.GetHeader(IdempotencyKeyHeader)
	if len(key) > maxIdempotencyKey {
		apiError(c, http.StatusBadRequest, "invalid_request", fmt.Sprintf("%s is over %d bytes", IdempotencyKeyHeader, maxIdempotencyKey), nil)
		return
	}
	if key != "" {
		// A client's key is unique only among its own requests: scope it so
		// it can never replay a Twilio webhook's reply or another task's.
		key = "v1:" + sid + "/" + name + ":" + key
	}
	reply, err := s.handle(c, apiTimeout, engine.CommandEvent(sid, name, params, key))
	if err != nil {
		s.engineError(c, err, sid)
		return
	}
	// The answer is the task's view: its SIDs complete the log line.
	var v struct {
		TaskSid       string   `json:"task_sid"`
		OpenTasks     []string `json:"open_tasks"`
		CallSid       string   `json:"call_sid"`
		ConferenceSid string   `json:"conference_sid"`
	}
	if json.Unmarshal(reply.Body, &v) == nil {
		info.resolved(engine.TaskView{TaskSid: v.TaskSid, OpenTasks: v.OpenTasks, CallSid: v.CallSid, ConferenceSid: v.ConferenceSid})
	}
	c.Data(http.StatusOK, jsonType, reply.Body)
}

// bodyError is a command body refused before the engine sees it.
type bodyError struct {
	status      int
	code, param string
	msg         string
}

func invalidJSON(format string, a ...any) *bodyError {
	return &bodyError{status: http.StatusBadRequest, code: "invalid_json", msg: fmt.Sprintf(format, a...)}
}

// decodeParams reads a command's parameters: exactly one JSON object, in
// UTF-8. encoding/json would quietly turn invalid UTF-8 into U+FFFD (a
// parameter the client did not send) and refuse a number beyond float64
// (1e999) as if the body were not an object; the first is 400
// invalid_json, the second 422 invalid_params naming the parameter.
func decodeParams(body []byte) (map[string]any, *bodyError) {
	if !utf8.Valid(body) {
		return nil, invalidJSON("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, invalidJSON("the body must be a JSON object of parameters")
		}
		return nil, invalidJSON("malformed JSON: %v", err)
	}
	if raw == nil {
		return nil, invalidJSON("the body must be a JSON object of parameters, not null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalidJSON("malformed JSON: data after the object")
	}
	params := make(map[string]any, len(raw))
	for _, name := range sortedKeys(raw) {
		var v any
		if err := json.Unmarshal(raw[name], &v); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && strings.HasPrefix(te.Value, "number") {
				return nil, &bodyError{status: http.StatusUnprocessableEntity, code: "invalid_params", param: name,
					msg: fmt.Sprintf("parameter %q: %s is out of range", name, te.Value)}
			}
			return nil, invalidJSON("parameter %q: %v", name, err)
		}
		params[name] = v
	}
	return params, nil
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// maxTaskPage bounds GET /v1/tasks?limit=: a page is built in one request.
const maxTaskPage = 1000

// tasks serves GET /v1/tasks: live calls, a page at a time, optionally of
// one flow and in one state. An unknown query parameter is refused rather
// than ignored, so that a typo (?stat=talking) does not list every call.
func (s *Server) tasks(c *gin.Context) {
	var f engine.TaskFilter
	for name, values := range c.Request.URL.Query() {
		v := values[len(values)-1]
		switch name {
		case "flow":
			f.Flow = v
		case "state":
			f.State = v
		case "after":
			f.After = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTaskPage {
				apiError(c, http.StatusUnprocessableEntity, "invalid_params",
					fmt.Sprintf("limit must be a whole number from 1 to %d, got %q", maxTaskPage, v), nil)
				return
			}
			f.Limit = n
		default:
			apiError(c, http.StatusUnprocessableEntity, "invalid_params",
				fmt.Sprintf("unknown query parameter %q (want flow, state, after or limit)", name), nil)
			return
		}
	}
	ctx, cancel := handleContext(c, apiTimeout)
	defer cancel()
	page, err := s.eng.Tasks(ctx, f)
	if err != nil {
		s.engineError(c, err, "")
		return
	}
	// A flow or state no loaded flow has is refused, with a suggestion,
	// unless calls pinned to an older revision are in it.
	if msg := s.checkTaskFilter(f); msg != "" && len(page.Tasks) == 0 {
		apiError(c, http.StatusUnprocessableEntity, "invalid_params", msg, nil)
		return
	}
	writeJSON(c, page)
}

// checkTaskFilter explains a flow no loaded file defines, or a state none
// of the flows in question has: a typo (state=talkin) would list nothing
// and look like a quiet contact center.
func (s *Server) checkTaskFilter(f engine.TaskFilter) string {
	set := s.eng.Flows()
	if set == nil {
		return ""
	}
	var flows []*flow.Flow
	if f.Flow != "" {
		fl := set.ByName(f.Flow)
		if fl == nil {
			var names []string
			for _, fl := range set.Flows {
				names = append(names, fl.Name)
			}
			msg := fmt.Sprintf("no flow %q is loaded", f.Flow)
			if sug := flow.Suggest(f.Flow, names); sug != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", sug)
			}
			return msg + "; loaded: " + strings.Join(names, ", ")
		}
		flows = []*flow.Flow{fl}
	} else {
		flows = set.Flows
	}
	if f.State == "" {
		return ""
	}
	var states []string
	for _, fl := range flows {
		if fl.States[f.State] != nil {
			return ""
		}
		states = append(states, fl.StateOrder...)
	}
	msg := fmt.Sprintf("no loaded flow has a state %q", f.State)
	if f.Flow != "" {
		msg = fmt.Sprintf("flow %s has no state %q", f.Flow, f.State)
	}
	if sug := flow.Suggest(f.State, states); sug != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", sug)
	}
	return msg
}

// task serves GET /v1/tasks/{TaskSid}: the session with its history, all
// of it or, with history_after=SEQ and history_limit=N, the N entries
// after the one numbered SEQ (a console polling a call asks for what it has
// not seen).
func (s *Server) task(c *gin.Context) {
	sid := c.Param("sid")
	info := infoOf(c)
	info.addressedBy(sid)
	ctx, cancel := handleContext(c, apiTimeout)
	defer cancel()
	var h engine.HistoryRange
	for name := range c.Request.URL.Query() {
		// Other parameters are ignored (a client's cache buster), but a
		// misspelt history_* would silently return the whole history.
		if strings.HasPrefix(name, "history") && name != "history_after" && name != "history_limit" {
			apiError(c, http.StatusUnprocessableEntity, "invalid_params",
				fmt.Sprintf("unknown query parameter %q (want history_after or history_limit)", name), nil)
			return
		}
	}
	for _, q := range []struct {
		name string
		max  int64
		set  func(int64)
	}{
		{"history_after", 1 << 62, func(n int64) { h.After = n }},
		{"history_limit", maxTaskPage, func(n int64) { h.Limit = int(n) }},
	} {
		v := c.Query(q.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > q.max {
			apiError(c, http.StatusUnprocessableEntity, "invalid_params",
				fmt.Sprintf("%s must be a whole number from 0 to %d, got %q", q.name, q.max, v), nil)
			return
		}
		q.set(n)
	}
	v, err := s.eng.TaskHistory(ctx, sid, h)
	if err != nil {
		s.engineError(c, err, sid)
		return
	}
	info.session, info.state = v.Session, v.State
	info.resolved(v)
	// history is always there, [] on a page with nothing new, so that a
	// polling console reads it unconditionally.
	history := v.History
	if history == nil {
		history = []engine.HistoryView{}
	}
	writeJSON(c, struct {
		engine.TaskView
		History []engine.HistoryView `json:"history"`
	}{v, history})
}

// flows serves GET /v1/flows.
func (s *Server) flows(c *gin.Context) {
	set := s.eng.Flows()
	out := []FlowSummary{}
	if set != nil {
		for _, f := range set.Flows {
			out = append(out, summarize(f))
		}
	}
	writeJSON(c, out)
}

func summarize(f *flow.Flow) FlowSummary {
	states := f.StateOrder
	if len(states) == 0 {
		states = sortedKeys(f.States)
	}
	numbers := f.Numbers
	if numbers == nil {
		numbers = []string{}
	}
	return FlowSummary{Name: f.Name, Description: f.Description, File: f.File, Numbers: numbers,
		Revision: f.Revision, Initial: f.Initial, States: states, Commands: sortedKeys(f.Commands)}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// graph serves GET /v1/flows/{name}/graph as Mermaid text.
func (s *Server) graph(c *gin.Context) {
	name := c.Param("name")
	var f *flow.Flow
	if set := s.eng.Flows(); set != nil {
		f = set.ByName(name)
	}
	if f == nil {
		apiError(c, http.StatusNotFound, "unknown_flow", fmt.Sprintf("no flow %q is loaded", name), nil)
		return
	}
	c.Header("X-Flowd-Revision", f.Revision)
	c.Data(http.StatusOK, "text/vnd.mermaid; charset=utf-8", []byte(flow.Mermaid(f)))
}

func (s *Server) healthz(c *gin.Context) {
	c.Data(http.StatusOK, jsonType, []byte(`{"status":"ok"}`))
}

// readyz: ready when the store answers and its last write did not fail,
// flows are loaded, webhooks can be authenticated and no shutdown has
// begun.
func (s *Server) readyz(c *gin.Context) {
	var problems []string
	// expected: every problem is one flowd announced itself (a shutdown
	// under way, no auth token, no flows yet), so a failing probe is the
	// right answer, not an error to log at every probe.
	expected := true
	if s.draining.Load() {
		problems = append(problems, "shutting down")
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		problems = append(problems, "store unreachable: "+err.Error())
		expected = false
	} else if wh, ok := s.store.(store.WriteHealthReporter); ok {
		// A store that answers but cannot write (a read-only file, a
		// full disk, a standby) fails every webhook. What the store saw
		// of its own writes says so without a write of readiness's own.
		if h := wh.WriteHealth(); h.Failing(s.now(), writeFailureWindow) {
			problems = append(problems, fmt.Sprintf("store cannot write: %s (%s ago, nothing written since)",
				h.LastError, s.now().Sub(h.LastFailed).Round(time.Millisecond)))
			expected = false
		}
	}
	n := 0
	if set := s.eng.Flows(); set != nil {
		n = len(set.Flows)
	}
	if n == 0 {
		problems = append(problems, "no flows loaded")
	}
	if s.validator == nil {
		problems = append(problems, "no Twilio auth token: every webhook is refused")
	}
	if len(problems) > 0 {
		info := infoOf(c)
		if expected {
			info.expected = true
		} else {
			info.err = errors.New(strings.Join(problems, "; "))
		}
		b, _ := json.Marshal(gin.H{"status": "unavailable", "problems": problems, "flows": n})
		c.Data(http.StatusServiceUnavailable, jsonType, b)
		return
	}
	// c.Data, not c.JSON: the same Content-Type as every other JSON
	// answer (c.JSON adds "; charset=utf-8").
	b, _ := json.Marshal(gin.H{"status": "ready", "flows": n})
	c.Data(http.StatusOK, jsonType, b)
}
