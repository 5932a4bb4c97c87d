//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockSQLite takes an exclusive lock on PATH.lock for as long as the store
// is open. The store caches what it commits (sqlite_cache.go), which is
// exact only while no other process writes the file: SQLite serves one
// flowd process, and a second one fails here with a reason instead of
// reading stale sessions. The kernel drops the lock when the process dies,
// however it dies.
func lockSQLite(path string) (release func() error, err error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite lock %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: sqlite %s is in use by another process (lock %s held): a SQLite store serves one flowd process; run replicas on PostgreSQL", path, name)
		}
		return nil, fmt.Errorf("store: sqlite lock %s: %w", name, err)
	}
	return f.Close, nil // closing the file releases the lock
}
