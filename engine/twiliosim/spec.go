package twiliosim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// specValidator checks REST requests against Twilio's own OpenAPI
// descriptions, so that a request the real Twilio would reject fails here too.
type specValidator struct {
	api, taskrouter *openapi3.T
}

// The spec files are megabytes of JSON: parse them once per process and
// directory, not once per Sim (flowd's tests create hundreds of Sims).
var (
	specMu    sync.Mutex
	specCache = map[string]*specEntry{}
)

type specEntry struct {
	once sync.Once
	v    *specValidator
	err  error
}

func loadSpec(dir string) (*specValidator, error) {
	specMu.Lock()
	e := specCache[dir]
	if e == nil {
		e = &specEntry{}
		specCache[dir] = e
	}
	specMu.Unlock()
	e.once.Do(func() { e.v, e.err = buildSpec(dir) })
	return e.v, e.err
}

// CheckOpenAPIDir loads Twilio's OpenAPI specs from dir (as Options.OpenAPIDir
// does, and cached the same way) and reports why they cannot be used.
func CheckOpenAPIDir(dir string) error {
	_, err := loadSpec(dir)
	return err
}

func buildSpec(dir string) (*specValidator, error) {
	load := func(name string) (*openapi3.T, error) {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("twiliosim: load %s: %w", name, err)
		}
		// Twilio's examples and custom formats (http-method, phone-number, ...)
		// are documentation, not constraints we want to enforce.
		if err := doc.Validate(loader.Context,
			openapi3.DisableExamplesValidation(),
			openapi3.DisableSchemaFormatValidation(),
			openapi3.DisableSchemaDefaultsValidation(),
			openapi3.DisableSchemaPatternValidation()); err != nil {
			return nil, fmt.Errorf("twiliosim: %s: %w", name, err)
		}
		return doc, nil
	}
	api, err := load("twilio_api_v2010.json")
	if err != nil {
		return nil, err
	}
	tr, err := load("twilio_taskrouter_v1.json")
	if err != nil {
		return nil, err
	}
	return &specValidator{api: api, taskrouter: tr}, nil
}

// defaultOpenAPIDir is where CI points the conformance check.
func defaultOpenAPIDir() string { return os.Getenv("TWILIO_OPENAPI_DIR") }

// validate checks one request against the operation tmpl (the spec's path
// template, already matched by our router: kin-openapi's legacy router cannot
// match Twilio's "{Sid}.json" segments) with the given path parameters.
func (v *specValidator) validate(r *http.Request, body []byte, tmpl string, params map[string]string) error {
	doc, host := v.api, "api.twilio.com"
	if strings.HasPrefix(tmpl, "/v1/") {
		doc, host = v.taskrouter, "taskrouter.twilio.com"
	}
	pi := doc.Paths.Value(tmpl)
	if pi == nil {
		return fmt.Errorf("%s %s: no such path in the spec", r.Method, tmpl)
	}
	op := pi.GetOperation(r.Method)
	if op == nil {
		return fmt.Errorf("%s %s: method not allowed by the spec", r.Method, tmpl)
	}
	// Validate as if sent to the canonical Twilio host.
	u := *r.URL
	u.Scheme, u.Host = "https", host
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = r.Header.Clone()
	route := &routers.Route{Spec: doc, Path: tmpl, PathItem: pi, Method: r.Method, Operation: op}
	if len(doc.Servers) > 0 {
		route.Server = doc.Servers[0]
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			// Credentials are not checked against the spec's security scheme:
			// the sim accepts any basic auth.
			AuthenticationFunc:  func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
			MultiError:          true,
			SkipSettingDefaults: true,
		},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return fmt.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	return nil
}

// reservationUpdate is the operation an assignment callback's instruction
// stands for: its JSON keys are UpdateTaskReservation's parameters.
const reservationUpdate = "/v1/Workspaces/{WorkspaceSid}/Tasks/{TaskSid}/Reservations/{Sid}"

// validateInstruction checks an assignment-callback instruction, mapped onto
// UpdateTaskReservation's parameter names, against that operation: a key
// the spec does not name (a misspelled option Twilio would ignore) or a
// value of the wrong type is a violation, as for a REST request.
func (v *specValidator) validateInstruction(params url.Values, ws, task, res string) error {
	op := v.taskrouter.Paths.Value(reservationUpdate).Post
	var known map[string]bool
	if op != nil && op.RequestBody != nil && op.RequestBody.Value != nil {
		if mt := op.RequestBody.Value.Content.Get("application/x-www-form-urlencoded"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
			known = map[string]bool{}
			for name := range mt.Schema.Value.Properties {
				known[name] = true
			}
		}
	}
	var unknown []string
	for k := range params {
		if known != nil && !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("assignment instruction: %s: no such parameter of UpdateTaskReservation", strings.Join(unknown, ", "))
	}
	body := params.Encode()
	path := "/v1/Workspaces/" + ws + "/Tasks/" + task + "/Reservations/" + res
	r, err := http.NewRequest(http.MethodPost, "https://taskrouter.twilio.com"+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := v.validate(r, []byte(body), reservationUpdate, map[string]string{"WorkspaceSid": ws, "TaskSid": task, "Sid": res}); err != nil {
		return fmt.Errorf("assignment instruction: %w", err)
	}
	return nil
}
