package twiliosim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature computes X-Twilio-Signature for a request to fullURL (including
// its query) with the given POST form parameters (nil for GET):
// Base64(HMAC-SHA1(authToken, URL + each name+value sorted by name)).
func Signature(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range params[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	h := hmac.New(sha1.New, []byte(authToken))
	h.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// delivery is one queued outbound HTTP request.
type delivery struct {
	kind   string
	method string
	url    string
	form   url.Values
	token  string
	confCB bool // a conference status callback (subject to hold/reorder faults)
	dup    int  // extra copies to send (fault injection)
	// done runs under the lock with the result of the first attempt.
	done func(status int, body []byte, err error)
}

// send queues a webhook. Called with the lock held; never blocks.
func (s *Sim) send(d *delivery) {
	if d.method == "" {
		d.method = http.MethodPost
	}
	d.method = strings.ToUpper(d.method)
	s.seq++
	d.token = s.salt + "-" + strconv.FormatUint(s.seq, 10)
	s.faults.applyWebhook(s, d)
}

func (s *Sim) enqueue(d *delivery) {
	s.queue = append(s.queue, d)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliveryLoop is the single goroutine that performs outbound HTTP, in
// order, never holding the lock while the request is on the wire (flowd calls
// the REST API back while it answers a webhook).
func (s *Sim) deliveryLoop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.stop:
				return
			}
		}
		d := s.queue[0]
		s.queue = s.queue[1:]
		s.inflight++
		at := s.now
		s.mu.Unlock()

		select {
		case <-s.stop:
			return
		default:
		}
		status, body, err := s.do(d)
		results := []Webhook{s.record(d, at, status, body, err, false)}
		for i := 0; i < d.dup; i++ {
			st2, b2, e2 := s.do(d)
			results = append(results, s.record(d, at, st2, b2, e2, true))
		}

		s.lock()
		s.webhooks = append(s.webhooks, results...)
		if err != nil {
			s.logf("webhook %s %s failed: %v", d.method, d.url, err)
		}
		if d.done != nil {
			d.done(status, body, err)
		}
		s.inflight--
		s.unlock()
	}
}

func (s *Sim) record(d *delivery, at time.Time, status int, body []byte, err error, dup bool) Webhook {
	w := Webhook{At: at, Kind: d.kind, Method: d.method, URL: d.url, Form: cloneValues(d.form), Token: d.token, Status: status, Body: string(body), Dup: dup}
	if err != nil {
		w.Err = err.Error()
	}
	return w
}

func (s *Sim) do(d *delivery) (int, []byte, error) {
	target := d.url
	var body io.Reader
	var sigParams url.Values
	if d.method == http.MethodGet {
		u, err := url.Parse(d.url)
		if err != nil {
			return 0, nil, err
		}
		q := u.Query()
		for k, vs := range d.form {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
		target = u.String()
	} else {
		body = strings.NewReader(d.form.Encode())
		sigParams = d.form
	}
	req, err := http.NewRequest(d.method, target, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", Signature(s.opts.AuthToken, target, sigParams))
	req.Header.Set("I-Twilio-Idempotency-Token", d.token)
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func cloneValues(v url.Values) map[string][]string {
	out := make(map[string][]string, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
