package server

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live on a private registry: flowd embedded in another program
// must not collide with its default registry.
type metrics struct {
	reg               *prometheus.Registry
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	signatureFailures prometheus.Counter
	panics            prometheus.Counter
	reloads           *prometheus.CounterVec
}

// reloadResults are the values of flowd_flow_reloads_total's result label.
var reloadResults = []string{"ok", "invalid"}

// Buckets from 250 µs: a webhook answered from memory and one SQLite commit
// is well under a millisecond, and Twilio's limits (5 s, 15 s) are the top.
var latencyBuckets = []float64{.00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowd_http_requests_total", Help: "HTTP requests by route, method and status code.",
	}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "flowd_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route and status code.",
		Buckets: latencyBuckets,
	}, []string{"route", "code"})
	m.signatureFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flowd_webhook_signature_failures_total", Help: "Twilio webhooks refused for a missing or wrong X-Twilio-Signature.",
	})
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flowd_http_panics_total", Help: "Requests whose handler panicked (answered 500).",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowd_flow_reloads_total", Help: "Flow reloads by result (ok, invalid: diagnostics kept the running revision).",
	}, []string{"result"})
	// Both results exist from the start, at 0: a rate() or an alert on
	// "invalid" must not wait for the first bad edit to have a series.
	for _, result := range reloadResults {
		m.reloads.WithLabelValues(result)
	}
	m.reg.MustRegister(m.requests, m.latency, m.signatureFailures, m.panics, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	st := s.eng.Stats()
	counter := func(name, help string, f func() int64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f()) }))
	}
	counter("flowd_events_total", "Events handled by the engine.", st.Events.Load)
	counter("flowd_transitions_total", "State transitions fired.", st.Transitions.Load)
	counter("flowd_unhandled_events_total", "Events no handler in the current state took.", st.Unhandled.Load)
	counter("flowd_stale_events_total", "Conference callbacks older than one already applied (ignored).", st.Stale.Load)
	counter("flowd_duplicate_events_total", "Repeated idempotency tokens answered with the stored reply.", st.Duplicates.Load)
	counter("flowd_commands_rejected_total", "Commands refused as not allowed in the current state.", st.CommandsRejected.Load)
	counter("flowd_rest_sent_total", "Twilio REST calls sent successfully.", st.RESTSent.Load)
	counter("flowd_rest_retries_total", "Twilio REST calls scheduled for a retry.", st.RESTRetries.Load)
	counter("flowd_rest_failures_total", "Twilio REST calls given up on (action.failed).", st.RESTFailures.Load)
	counter("flowd_store_conflicts_total", "Optimistic version conflicts (another writer won; the event re-ran).", st.Conflicts.Load)
	counter("flowd_pruned_sessions_total", "Finished calls deleted by retention (FLOWD_RETAIN).", st.PrunedSessions.Load)
	counter("flowd_pruned_keys_total", "Idempotency keys deleted by retention (FLOWD_RETAIN_KEYS).", st.PrunedKeys.Load)

	gauge := func(name, help string, f func(context.Context) (int, error)) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := f(ctx)
			if err != nil {
				// NaN rather than a wrong number: the scrape still
				// succeeds and the gap is visible.
				s.log.Warn("metrics", "gauge", name, "error", err)
				return math.NaN()
			}
			return float64(n)
		}))
	}
	gauge("flowd_outbox_pending", "REST calls waiting in the outbox.", s.store.Pending)
	gauge("flowd_live_sessions", "Calls whose flow has not reached a final state.", s.store.Live)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flowd_flows_loaded", Help: "Flows currently loaded.",
	}, func() float64 {
		if set := s.eng.Flows(); set != nil {
			return float64(len(set.Flows))
		}
		return 0
	}))
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, methodLabel(method), code).Inc()
	m.latency.WithLabelValues(route, code).Observe(d.Seconds())
}

// methodLabel bounds the method label: any client may send any method
// string, and each would otherwise be a new series kept forever.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}
