package store

import (
	"bytes"
	"sync"
)

// The SQLite store keeps what this process committed (sessions, and what
// aliases resolve to) in memory, so the webhook path — Resolve, then Get —
// reads nothing from disk. Reading is what made those calls slow: after
// every write, SQLite empties a reader connection's page cache, so each
// lookup re-read its pages with pread.
//
// The cache is exact for the process that writes the file, which is how
// flowd runs SQLite (one replica). All of its writes go through the writer
// goroutine, which publishes a job's effects after its transaction
// commits. Should another process write the same file anyway, the writer
// notices at its next batch (PRAGMA data_version changes) and drops the
// cache; and a session read stale from the cache fails its Commit with
// ErrConflict, which also drops the entry, so the caller's retry reads the
// disk.
//
// Fills from disk race with publishes: a reader may fetch a row, a commit
// may change and publish it, and the reader's fill arrive after. A fill
// therefore never replaces a newer session version, and never replaces an
// alias entry at all (publishes do that); gen, bumped whenever an entry is
// dropped, stops a fill that started before a drop.

const (
	cacheSessions = 8192
	cacheAliases  = 32768
)

type sqliteCache struct {
	mu       sync.Mutex
	gen      uint64
	sessions map[string]Session
	resolved map[string]string // alias (or session ID) → session ID
}

func newSQLiteCache() *sqliteCache {
	return &sqliteCache{sessions: map[string]Session{}, resolved: map[string]string{}}
}

// session returns a copy of the cached session.
func (c *sqliteCache) session(id string) (Session, bool) {
	c.mu.Lock()
	ss, ok := c.sessions[id]
	c.mu.Unlock()
	if ok {
		ss.Data = bytes.Clone(ss.Data)
	}
	return ss, ok
}

// final tells whether the cached session at version v is final; known is
// false when the cache does not hold that version.
func (c *sqliteCache) final(id string, v int64) (final, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ss, ok := c.sessions[id]
	return ss.Final, ok && ss.Version == v
}

func (c *sqliteCache) resolve(alias string) (string, bool) {
	c.mu.Lock()
	id, ok := c.resolved[alias]
	c.mu.Unlock()
	return id, ok
}

func (c *sqliteCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fillSession caches a session read from disk when the read began at gen.
func (c *sqliteCache) fillSession(ss Session, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if old, ok := c.sessions[ss.ID]; ok && old.Version >= ss.Version {
		return
	}
	ss.Data = bytes.Clone(ss.Data)
	c.putSession(ss)
}

// fillResolved caches a Resolve answer read from disk when the read began at
// gen.
func (c *sqliteCache) fillResolved(alias, id string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.resolved[alias]; !ok {
		c.putResolved(alias, id)
	}
}

// publish records a committed session (Data already owned by the cache)
// and its new aliases.
func (c *sqliteCache) publish(ss Session, aliases []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.sessions[ss.ID]; !ok || old.Version < ss.Version {
		c.putSession(ss)
	}
	for _, a := range aliases {
		if a != "" {
			c.putResolved(a, ss.ID)
		}
	}
}

// drop forgets a session (its Commit lost a version race, so the cached
// copy may be stale).
func (c *sqliteCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sessions[id]; ok {
		delete(c.sessions, id)
		c.gen++
	}
}

// forget drops deleted sessions and every alias resolving to them (Prune).
func (c *sqliteCache) forget(ids []string) {
	if len(ids) == 0 {
		return
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.sessions, id)
	}
	for a, id := range c.resolved {
		if gone[id] {
			delete(c.resolved, a)
		}
	}
	c.gen++ // a fill that read a deleted row before this must not land
}

// reset forgets everything (another process wrote the database).
func (c *sqliteCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.sessions)
	clear(c.resolved)
	c.gen++
}

// putSession and putResolved insert under c.mu, evicting an arbitrary
// entry when full (Go's map iteration starts at a random place).
func (c *sqliteCache) putSession(ss Session) {
	if _, ok := c.sessions[ss.ID]; !ok && len(c.sessions) >= cacheSessions {
		for k := range c.sessions {
			delete(c.sessions, k)
			break
		}
		c.gen++
	}
	c.sessions[ss.ID] = ss
}

func (c *sqliteCache) putResolved(alias, id string) {
	if _, ok := c.resolved[alias]; !ok && len(c.resolved) >= cacheAliases {
		for k := range c.resolved {
			delete(c.resolved, k)
			break
		}
		c.gen++
	}
	c.resolved[alias] = id
}
