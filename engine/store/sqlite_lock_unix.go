//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockSQLite takes an exclusive lock on PATH.lock for as long as the store
// is open. The store caches what it commits (sqlite_cache.go), which is
// exact only while no other process writes the file: SQLite serves one
// flowd process, and a second one fails here with a reason instead of
// reading stale sessions. The kernel drops the lock when the process dies,
// however it dies.
//
// The lock is named after the file's real path, so that a second process
// reaching the same file through a symbolic link, or another relative path,
// meets the same lock.
func lockSQLite(path string) (release func() error, err error) {
	name := realPath(path) + ".lock"
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

// realPath is path with symbolic links resolved: the file's, or, before
// the file exists, its directory's.
func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}
