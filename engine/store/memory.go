package store

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// memory is the in-process Store: plain maps behind one mutex. Everything is
// copied on the way in and out so callers cannot mutate stored data through
// slices they hold.
type memory struct {
	mu       sync.Mutex
	closed   bool
	sessions map[string]*memSession
	aliases  map[string]string // alias -> session ID
	keys     map[string]memKey // idempotency key -> reply
	items    map[int64]*OutboxItem
	queues   map[queueKey][]int64 // session and lane -> pending item IDs in ID order
	lastID   int64
	flows    map[string]FlowRevision // revision -> source
}

type queueKey struct{ session, lane string }

type memKey struct {
	reply []byte
	at    time.Time
}

type memSession struct {
	s       Session
	history []HistoryEntry
	outbox  []int64 // all item IDs of the session, in ID order
}

// NewMemory returns an empty in-memory Store. Nothing survives the process.
func NewMemory() Store {
	return &memory{
		sessions: map[string]*memSession{},
		aliases:  map[string]string{},
		keys:     map[string]memKey{},
		items:    map[int64]*OutboxItem{},
		queues:   map[queueKey][]int64{},
		flows:    map[string]FlowRevision{},
	}
}

// lock takes the mutex after checking the context and that the store is
// open; on success the caller must unlock.
func (m *memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	return nil
}

func (m *memory) Get(ctx context.Context, id string) (Session, error) {
	if err := m.lock(ctx); err != nil {
		return Session{}, err
	}
	defer m.mu.Unlock()
	ms, ok := m.sessions[id]
	if !ok {
		return Session{}, ErrNotFound
	}
	s := ms.s
	s.Data = clone(s.Data)
	return s, nil
}

func (m *memory) Resolve(ctx context.Context, alias string) (string, error) {
	if err := m.lock(ctx); err != nil {
		return "", err
	}
	defer m.mu.Unlock()
	if id, ok := m.aliases[alias]; ok {
		return id, nil
	}
	if _, ok := m.sessions[alias]; ok {
		return alias, nil
	}
	return "", ErrNotFound
}

func (m *memory) Commit(ctx context.Context, c Commit) (int64, error) {
	if err := validate(&c); err != nil {
		return 0, err
	}
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()

	// All checks before any write: a failed commit leaves no trace.
	if c.IdempotencyKey != "" {
		if _, ok := m.keys[c.IdempotencyKey]; ok {
			return 0, ErrDuplicate
		}
	}
	id := c.Session.ID
	ms, exists := m.sessions[id]
	stored := int64(0)
	if exists {
		stored = ms.s.Version
	}
	if c.Session.Version != stored {
		return 0, ErrConflict
	}

	now := time.Now()
	s := c.Session
	s.Version++
	s.Data = clone(s.Data)
	s.UpdatedAt = orNow(s.UpdatedAt, now)
	if exists {
		s.CreatedAt = ms.s.CreatedAt
	} else {
		s.CreatedAt = orNow(s.CreatedAt, now)
		ms = &memSession{}
		m.sessions[id] = ms
	}
	ms.s = s

	for _, a := range c.Aliases {
		if a != "" {
			m.aliases[a] = id
		}
	}
	ms.appendHistory(id, c.History, now)
	for _, it := range c.Outbox {
		m.lastID++
		item := &OutboxItem{
			ID:          m.lastID,
			Session:     id,
			Kind:        it.Kind,
			Lane:        it.Lane,
			Payload:     clone(it.Payload),
			Status:      OutboxPending,
			NextAttempt: orNow(it.NextAttempt, now),
			CreatedAt:   orNow(it.CreatedAt, now),
		}
		m.items[item.ID] = item
		ms.outbox = append(ms.outbox, item.ID)
		q := queueKey{id, it.Lane}
		m.queues[q] = append(m.queues[q], item.ID)
	}
	if c.IdempotencyKey != "" {
		m.keys[c.IdempotencyKey] = memKey{reply: clone(c.Reply), at: now}
	}
	return s.Version, nil
}

func (ms *memSession) appendHistory(id string, entries []HistoryEntry, now time.Time) {
	next := int64(len(ms.history))
	for _, e := range entries {
		next++
		ms.history = append(ms.history, HistoryEntry{
			Session: id,
			Seq:     next,
			At:      orNow(e.At, now),
			Kind:    e.Kind,
			Data:    clone(e.Data),
		})
	}
}

func (m *memory) Reply(ctx context.Context, key string) ([]byte, bool, error) {
	if err := m.lock(ctx); err != nil {
		return nil, false, err
	}
	defer m.mu.Unlock()
	k, ok := m.keys[key]
	return clone(k.reply), ok, nil
}

func (m *memory) AppendHistory(ctx context.Context, session string, entries ...HistoryEntry) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	ms, ok := m.sessions[session]
	if !ok {
		return ErrNotFound
	}
	ms.appendHistory(session, entries, time.Now())
	return nil
}

func (m *memory) History(ctx context.Context, session string, after int64, limit int) ([]HistoryEntry, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ms, ok := m.sessions[session]
	if !ok {
		return nil, nil
	}
	// Seq n lives at index n-1.
	start := max(after, 0)
	if start >= int64(len(ms.history)) {
		return nil, nil
	}
	src := ms.history[start:]
	if limit > 0 && limit < len(src) {
		src = src[:limit]
	}
	out := make([]HistoryEntry, len(src))
	for i, e := range src {
		e.Data = clone(e.Data)
		out[i] = e
	}
	return out, nil
}

func (m *memory) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]OutboxItem, error) {
	if owner == "" {
		return nil, errors.New("store: claim: empty owner")
	}
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	// Only the head of each session's pending queue in each lane is a
	// candidate, and the empty lane (a flowd from before lanes) keeps
	// strict order with every lane of its session.
	oldest := map[string]int64{} // session -> its oldest pending item, any lane
	for k, q := range m.queues {
		if id, ok := oldest[k.session]; !ok || q[0] < id {
			oldest[k.session] = q[0]
		}
	}
	var heads []*OutboxItem
	for k, q := range m.queues {
		it := m.items[q[0]]
		if it.NextAttempt.After(now) || (!it.LeaseUntil.IsZero() && it.LeaseUntil.After(now)) {
			continue
		}
		if k.lane == "" && oldest[k.session] < it.ID {
			continue
		}
		if legacy := m.queues[queueKey{k.session, ""}]; k.lane != "" && len(legacy) > 0 && legacy[0] < it.ID {
			continue
		}
		heads = append(heads, it)
	}
	slices.SortFunc(heads, func(a, b *OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	if limit <= 0 {
		limit = math.MaxInt
	}
	if len(heads) > limit {
		heads = heads[:limit]
	}
	until := now.Add(lease).UTC()
	out := make([]OutboxItem, len(heads))
	for i, it := range heads {
		it.LeaseOwner = owner
		it.LeaseUntil = until
		it.Claims++
		out[i] = copyItem(it)
	}
	return out, nil
}

func copyItem(it *OutboxItem) OutboxItem {
	c := *it
	c.Payload = clone(it.Payload)
	c.Result = clone(it.Result)
	return c
}

// owned returns the pending item id if owner holds its lease.
func (m *memory) owned(id int64, owner string) (*OutboxItem, error) {
	it, ok := m.items[id]
	if !ok {
		return nil, ErrNotFound
	}
	if owner == "" || it.Status != OutboxPending || it.LeaseOwner != owner {
		return nil, ErrConflict
	}
	return it, nil
}

// pending reports whether any of the session's items is still pending.
func (m *memory) pending(ms *memSession) bool {
	for _, id := range ms.outbox {
		if m.items[id].Status == OutboxPending {
			return true
		}
	}
	return false
}

// finish settles an item and unblocks its session's next one.
func (m *memory) finish(it *OutboxItem, status OutboxStatus) {
	it.Status = status
	it.LeaseOwner = ""
	it.LeaseUntil = time.Time{}
	key := queueKey{it.Session, it.Lane}
	q := m.queues[key]
	if i := slices.Index(q, it.ID); i >= 0 {
		q = slices.Delete(q, i, i+1)
	}
	if len(q) == 0 {
		delete(m.queues, key)
	} else {
		m.queues[key] = q
	}
}

func (m *memory) MarkSent(ctx context.Context, id int64, owner string, result []byte) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	it, err := m.owned(id, owner)
	if err != nil {
		return err
	}
	it.Result = clone(result)
	m.finish(it, OutboxSent)
	return nil
}

func (m *memory) Retry(ctx context.Context, id int64, owner string, next time.Time, lastErr string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	it, err := m.owned(id, owner)
	if err != nil {
		return err
	}
	it.Attempts++
	it.NextAttempt = orNow(next, time.Now())
	it.LastError = lastErr
	it.LeaseOwner = ""
	it.LeaseUntil = time.Time{}
	return nil
}

func (m *memory) MarkFailed(ctx context.Context, id int64, owner string, lastErr string, result []byte) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	it, err := m.owned(id, owner)
	if err != nil {
		return err
	}
	it.LastError = lastErr
	it.Result = clone(result)
	m.finish(it, OutboxFailed)
	return nil
}

func (m *memory) Outbox(ctx context.Context, session string) ([]OutboxItem, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	ms, ok := m.sessions[session]
	if !ok || len(ms.outbox) == 0 {
		return nil, nil
	}
	out := make([]OutboxItem, len(ms.outbox))
	for i, id := range ms.outbox {
		out[i] = copyItem(m.items[id])
	}
	return out, nil
}

func (m *memory) Pending(ctx context.Context) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for _, q := range m.queues {
		n += len(q)
	}
	return n, nil
}

func (m *memory) Live(ctx context.Context) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for _, ms := range m.sessions {
		if !ms.s.Final {
			n++
		}
	}
	return n, nil
}

func (m *memory) LiveSessions(ctx context.Context, f LiveFilter) ([]Session, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var ids []string
	for id, ms := range m.sessions {
		if !ms.s.Final && id > f.After && (f.Flow == "" || ms.s.Flow == f.Flow) && (f.State == "" || ms.s.State == f.State) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]Session, 0, min(len(ids), f.limit()))
	for _, id := range ids[:min(len(ids), f.limit())] {
		s := m.sessions[id].s
		s.Data = clone(s.Data)
		out = append(out, s)
	}
	return out, nil
}

func (m *memory) Prune(ctx context.Context, r Retention) (Pruned, error) {
	if err := m.lock(ctx); err != nil {
		return Pruned{}, err
	}
	defer m.mu.Unlock()
	var out Pruned
	limit := r.limit()
	if !r.FinishedBefore.IsZero() {
		var doomed []string
		for id, ms := range m.sessions {
			if len(doomed) == limit {
				break
			}
			if ms.s.Final && ms.s.UpdatedAt.Before(r.FinishedBefore) && !m.pending(ms) {
				doomed = append(doomed, id)
			}
		}
		for _, id := range doomed {
			for _, item := range m.sessions[id].outbox {
				delete(m.items, item)
			}
			delete(m.sessions, id)
		}
		if len(doomed) > 0 {
			for a, id := range m.aliases {
				if _, ok := m.sessions[id]; !ok {
					delete(m.aliases, a)
				}
			}
		}
		out.Sessions = len(doomed)
	}
	if !r.KeysBefore.IsZero() {
		for k, v := range m.keys {
			if out.Keys == limit {
				break
			}
			if v.at.Before(r.KeysBefore) {
				delete(m.keys, k)
				out.Keys++
			}
		}
	}
	return out, nil
}

func (m *memory) Ping(ctx context.Context) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

func (m *memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memory) SaveFlowRevision(ctx context.Context, r FlowRevision) error {
	if err := r.validate(); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.flows[r.Revision]; !ok {
		r.Source = clone(r.Source)
		r.CreatedAt = time.Now().UTC()
		m.flows[r.Revision] = r
	}
	return nil
}

func (m *memory) FlowRevision(ctx context.Context, revision string) (FlowRevision, error) {
	if err := m.lock(ctx); err != nil {
		return FlowRevision{}, err
	}
	defer m.mu.Unlock()
	r, ok := m.flows[revision]
	if !ok {
		return FlowRevision{}, ErrNotFound
	}
	r.Source = clone(r.Source)
	return r, nil
}
