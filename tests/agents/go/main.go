// Command agent-go is a small workload profiled by the real pyroscope-go
// agent and pushed to a Kiln server, so the suite can check that Kiln
// answers with this program's own function names.
//
// Environment: KILN_URL (server address), KILN_TENANT (sent as TenantID),
// DURATION (seconds of work, default 20).
package main

import (
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/pyroscope-go"
)

// retained keeps allocations alive so inuse_space has something to show.
var retained [][]byte

func main() {
	seconds, err := strconv.Atoi(getenv("DURATION", "20"))
	if err != nil {
		log.Fatalf("DURATION: %v", err)
	}
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	profiler, err := pyroscope.Start(pyroscope.Config{
		ApplicationName:   "kiln.agents.go",
		ServerAddress:     os.Getenv("KILN_URL"),
		TenantID:          os.Getenv("KILN_TENANT"),
		BasicAuthUser:     "kiln-user",
		BasicAuthPassword: "kiln-password",
		Tags:              map[string]string{"agent": "pyroscope-go", "env": "ci"},
		UploadRate:        5 * time.Second,
		Logger:            pyroscope.StandardLogger,
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU,
			pyroscope.ProfileInuseObjects,
			pyroscope.ProfileAllocObjects,
			pyroscope.ProfileInuseSpace,
			pyroscope.ProfileAllocSpace,
			pyroscope.ProfileGoroutines,
			pyroscope.ProfileMutexCount,
			pyroscope.ProfileMutexDuration,
			pyroscope.ProfileBlockCount,
			pyroscope.ProfileBlockDuration,
		},
	})
	if err != nil {
		log.Fatalf("pyroscope.Start: %v", err)
	}

	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); burnCPU(deadline) }()
	go func() { defer wg.Done(); allocateMemory(deadline) }()
	go func() { defer wg.Done(); contendMutex(deadline) }()
	parkGoroutines(50, deadline)
	wg.Wait()

	if err := profiler.Stop(); err != nil {
		log.Fatalf("profiler.Stop: %v", err)
	}
	fmt.Println("agent-go: done")
}

// burnCPU keeps one core busy hashing until the deadline.
func burnCPU(deadline time.Time) {
	sum := sha256.Sum256([]byte("kiln"))
	for time.Now().Before(deadline) {
		for i := 0; i < 10000; i++ {
			sum = sha256.Sum256(sum[:])
		}
	}
	_ = sum
}

// allocateMemory allocates steadily and retains a bounded working set.
func allocateMemory(deadline time.Time) {
	for time.Now().Before(deadline) {
		buf := make([]byte, 64<<10)
		retained = append(retained, buf)
		if len(retained) > 256 {
			retained = retained[1:]
		}
		time.Sleep(time.Millisecond)
	}
}

// contendMutex makes goroutines fight over one lock (mutex and block profiles).
func contendMutex(deadline time.Time) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				mu.Lock()
				time.Sleep(100 * time.Microsecond)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// parkGoroutines leaves n goroutines blocked on a channel until the deadline
// (goroutine profile).
func parkGoroutines(n int, deadline time.Time) {
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() { <-release }()
	}
	time.AfterFunc(time.Until(deadline), func() { close(release) })
}

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
