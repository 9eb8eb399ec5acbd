package debuginfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmtriage/vmtriage/symbols"
)

// Client fetches debug info from debuginfod servers with the standard
// protocol (GET URL/buildid/BUILDID/debuginfo), caching each file under
// CacheDir/BUILDID/debuginfo as elfutils' client does. It is safe for
// concurrent use; concurrent fetches of one build-id download it once.
type Client struct {
	URLs     []string // server base URLs, tried in order
	CacheDir string
	HTTP     *http.Client

	mu       sync.Mutex
	inflight map[string]*fetch
}

type fetch struct {
	done chan struct{}
	path string
	err  error
}

// NewClientFromEnv makes a client from DEBUGINFOD_URLS (space-separated),
// DEBUGINFOD_CACHE_PATH (default $XDG_CACHE_HOME/debuginfod_client or
// ~/.cache/debuginfod_client) and DEBUGINFOD_TIMEOUT (seconds, default 90).
// It returns nil when DEBUGINFOD_URLS is empty.
func NewClientFromEnv() *Client {
	urls := strings.Fields(os.Getenv("DEBUGINFOD_URLS"))
	if len(urls) == 0 {
		return nil
	}
	timeout := 90 * time.Second
	if s, err := strconv.Atoi(os.Getenv("DEBUGINFOD_TIMEOUT")); err == nil && s > 0 {
		timeout = time.Duration(s) * time.Second
	}
	return &Client{URLs: urls, CacheDir: DefaultCacheDir(), HTTP: &http.Client{Timeout: timeout}}
}

// DefaultCacheDir is the cache directory elfutils' client uses.
func DefaultCacheDir() string {
	if p := os.Getenv("DEBUGINFOD_CACHE_PATH"); p != "" {
		return p
	}
	if p := os.Getenv("XDG_CACHE_HOME"); p != "" {
		return filepath.Join(p, "debuginfod_client")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "debuginfod_client")
	}
	return filepath.Join(os.TempDir(), "debuginfod_client")
}

// Fetch returns the path of the cached debuginfo file for a build-id,
// downloading it from the first server that has it.
func (c *Client) Fetch(ctx context.Context, buildID string) (string, error) {
	buildID = strings.ToLower(buildID)
	if !validBuildID(buildID) {
		return "", fmt.Errorf("debuginfod: invalid build-id %q", buildID)
	}
	cached := filepath.Join(c.cacheDir(), buildID, "debuginfo")
	if isFile(cached) {
		return cached, nil
	}
	c.mu.Lock()
	if c.inflight == nil {
		c.inflight = map[string]*fetch{}
	}
	if f, ok := c.inflight[buildID]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.path, f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f := &fetch{done: make(chan struct{})}
	c.inflight[buildID] = f
	c.mu.Unlock()

	f.path, f.err = c.download(ctx, buildID, cached)
	close(f.done)
	if f.err != nil { // let a later call retry
		c.mu.Lock()
		delete(c.inflight, buildID)
		c.mu.Unlock()
	}
	return f.path, f.err
}

func (c *Client) cacheDir() string {
	if c.CacheDir != "" {
		return c.CacheDir
	}
	return DefaultCacheDir()
}

func validBuildID(id string) bool {
	if len(id) < 2 || len(id)%2 != 0 {
		return false
	}
	for _, r := range id {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// download tries each server in turn and stores the first answer.
func (c *Client) download(ctx context.Context, buildID, dest string) (string, error) {
	var errs []error
	for _, base := range c.URLs {
		err := c.get(ctx, strings.TrimRight(base, "/")+"/buildid/"+buildID+"/debuginfo", buildID, dest)
		if err == nil {
			return dest, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("debuginfod: build-id %s: %w", buildID, errors.Join(errs...))
}

// get downloads one URL to a temporary file, checks that it is an ELF
// file with the requested build-id, and renames it into the cache.
func (c *Client) get(ctx context.Context, url, buildID, dest string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "vmtriage")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".debuginfo-*")
	if err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	im, err := symbols.Open(tmp.Name())
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	got := im.BuildID()
	im.Close()
	if got != buildID {
		return fmt.Errorf("GET %s: the file's build-id is %q, want %s", url, got, buildID)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	return nil
}
