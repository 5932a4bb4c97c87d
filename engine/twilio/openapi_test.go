package twilio

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// specs validates recorded requests against Twilio's OpenAPI documents, so
// that what twilio-go sends for our Ops is checked against Twilio's own
// description of the API (a fuller conformance suite lives in engine/twiliosim).
type specs struct {
	voice, taskrouter *specRouter
}

var (
	specsOnce sync.Once
	specsVal  *specs
	specsErr  error
)

// loadSpecs returns nil (and logs) unless TWILIO_OPENAPI_DIR is set.
func loadSpecs(t *testing.T) *specs {
	t.Helper()
	dir := os.Getenv("TWILIO_OPENAPI_DIR")
	if dir == "" {
		t.Log("TWILIO_OPENAPI_DIR not set: requests are not checked against the OpenAPI spec")
		return nil
	}
	specsOnce.Do(func() {
		var s specs
		if s.voice, specsErr = loadRouter(filepath.Join(dir, "twilio_api_v2010.json"), "https://api.twilio.com"); specsErr != nil {
			return
		}
		if s.taskrouter, specsErr = loadRouter(filepath.Join(dir, "twilio_taskrouter_v1.json"), "https://taskrouter.twilio.com"); specsErr != nil {
			return
		}
		specsVal = &s
	})
	if specsErr != nil {
		t.Fatalf("loading OpenAPI specs: %v", specsErr)
	}
	return specsVal
}

// specRouter finds operations by matching escaped paths against the spec's
// templates. kin-openapi's legacy router cannot match Twilio's
// "{Sid}.json" segments, and the gorillamux router is not a dependency.
type specRouter struct {
	doc    *openapi3.T
	routes []specRoute
}

type specRoute struct {
	path  string
	item  *openapi3.PathItem
	re    *regexp.Regexp
	names []string
}

var templateParam = regexp.MustCompile(`\{([^}]+)\}`)

func newSpecRouter(doc *openapi3.T) *specRouter {
	r := &specRouter{doc: doc}
	for path, item := range doc.Paths.Map() {
		var names []string
		expr := "^"
		last := 0
		for _, m := range templateParam.FindAllStringSubmatchIndex(path, -1) {
			expr += regexp.QuoteMeta(path[last:m[0]]) + "([^/]+?)"
			names = append(names, path[m[2]:m[3]])
			last = m[1]
		}
		expr += regexp.QuoteMeta(path[last:]) + "$"
		r.routes = append(r.routes, specRoute{path: path, item: item, re: regexp.MustCompile(expr), names: names})
	}
	return r
}

// FindRoute matches req's escaped path; it prefers the template with the
// fewest parameters (the most literal one).
func (r *specRouter) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	var best *specRoute
	var values []string
	for i := range r.routes {
		rt := &r.routes[i]
		m := rt.re.FindStringSubmatch(req.URL.EscapedPath())
		if m == nil || rt.item.GetOperation(req.Method) == nil {
			continue
		}
		if best == nil || len(rt.names) < len(best.names) {
			best, values = rt, m[1:]
		}
	}
	if best == nil {
		return nil, nil, routers.ErrPathNotFound
	}
	params := map[string]string{}
	for i, name := range best.names {
		v, err := url.PathUnescape(values[i])
		if err != nil {
			return nil, nil, err
		}
		params[name] = v
	}
	return &routers.Route{Spec: r.doc, Path: best.path, PathItem: best.item, Method: req.Method, Operation: best.item.GetOperation(req.Method)}, params, nil
}

func loadRouter(path, server string) (*specRouter, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, err
	}
	// One canonical server for the document and every path, so routing only
	// depends on the path.
	doc.Servers = openapi3.Servers{{URL: server}}
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
		for _, op := range item.Operations() {
			op.Servers = nil
		}
	}
	return newSpecRouter(doc), nil
}

func (s *specs) validate(t *testing.T, r recorded) {
	t.Helper()
	if err := s.check(r); err != nil {
		t.Error(err)
	}
}

func (s *specs) check(r recorded) error {
	router, host := s.voice, "https://api.twilio.com"
	if strings.HasPrefix(r.Path, "/v1/") {
		router, host = s.taskrouter, "https://taskrouter.twilio.com"
	}
	target := host + r.Path
	if r.Query != "" {
		target += "?" + r.Query
	}
	req, err := http.NewRequest(r.Method, target, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	if r.ContentType != "" && len(r.Body) > 0 {
		req.Header.Set("Content-Type", r.ContentType)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("OpenAPI: no route for %s %s: %w", r.Method, r.Path, err)
	}
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			ExcludeRequestBody: false,
			MultiError:         true,
		},
	})
	if err != nil {
		return fmt.Errorf("OpenAPI: %s %s does not conform: %w", r.Method, r.Path, err)
	}
	return nil
}

// The check must be able to fail: a malformed integer, a missing required
// field and a friendly name
// where the spec wants a conference SID are rejected.
func TestOpenAPICheckRejects(t *testing.T) {
	s := loadSpecs(t)
	if s == nil {
		t.Skip("TWILIO_OPENAPI_DIR not set")
	}
	for name, form := range map[string]url.Values{
		"Timeout=soon": {"From": {"+15550001111"}, "To": {"+15552223333"}, "Timeout": {"soon"}},
		"no To":        {"From": {"+15550001111"}},
	} {
		err := s.check(recorded{Method: "POST", Path: "/2010-04-01/Accounts/" + testAccount + "/Conferences/" + testConference + "/Participants.json",
			Body: []byte(form.Encode()), ContentType: "application/x-www-form-urlencoded"})
		if err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	err := s.check(recorded{Method: "DELETE", Path: "/2010-04-01/Accounts/" + testAccount + "/Conferences/room/Participants/" + testCall + ".json"})
	if err == nil {
		t.Error("conference name accepted where a SID is required")
	}
}
