// Command leaky-service re-enacts a real memory leak for Kiln's leak
// scenario: an HTTP service whose handler opens a gRPC client connection per
// request and never closes it (the incident's Firestore client), profiled by
// the real pyroscope-go agent and pushed to Kiln. A built-in load loop drives
// it for -duration; -upload-rate shortens pyroscope-go's 10 s upload period
// so a minute of run time holds many heap snapshots ("accelerated time").
// With -fixed the handler closes each connection and memory stays flat.
//
// Environment: KILN_URL (server address).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/grafana/pyroscope-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// init samples every 4 KiB of allocation instead of Go's default 512 KiB.
// At the default rate one sampled 32 KiB gRPC buffer that happens to be live
// at a GC counts as ~512 KiB, a tenth of this small heap, so the fixed
// service's gRPC share jumped by 5+ points at random (a CI failure). The
// leak's signal does not depend on it; the fixed service's flatness does.
func init() {
	runtime.MemProfileRate = 4 << 10
}

// catalog is the service's legitimate, stable working set, so the heap is
// not all gRPC from the start (the incident started at ~15 %).
var catalog [][]byte

func main() {
	service := flag.String("service", "kiln.leak.checkout", "application name sent to Kiln")
	fixed := flag.Bool("fixed", false, "close each gRPC connection (the fix)")
	duration := flag.Duration("duration", 60*time.Second, "how long to run the load")
	uploadRate := flag.Duration("upload-rate", time.Second, "pyroscope-go upload period")
	rate := flag.Int("rps", 20, "requests per second of the load loop")
	flag.Parse()

	profiler, err := pyroscope.Start(pyroscope.Config{
		ApplicationName: *service,
		ServerAddress:   os.Getenv("KILN_URL"),
		UploadRate:      *uploadRate,
		Tags:            map[string]string{"scenario": "grpc-conn-leak", "fixed": fmt.Sprint(*fixed)},
		ProfileTypes: []pyroscope.ProfileType{
			pyroscope.ProfileCPU,
			pyroscope.ProfileInuseSpace,
			pyroscope.ProfileInuseObjects,
			pyroscope.ProfileAllocSpace,
			pyroscope.ProfileGoroutines,
		},
	})
	if err != nil {
		log.Fatalf("pyroscope.Start: %v", err)
	}

	loadCatalog()
	backend := startInventoryBackend()
	url := startCheckoutService(backend, *fixed)
	served := runLoad(url, *rate, *duration)

	if err := profiler.Stop(); err != nil {
		log.Fatalf("profiler.Stop: %v", err)
	}
	fmt.Printf("%s: %d requests served (fixed=%v)\n", *service, served, *fixed)
}

// loadCatalog allocates the stable part of the heap (about 8 MiB).
func loadCatalog() {
	for i := 0; i < 128; i++ {
		catalog = append(catalog, make([]byte, 64<<10))
	}
}

// startInventoryBackend runs the gRPC server the handler calls (the
// standard health service, so no generated code is needed).
func startInventoryBackend() string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String()
}

// startCheckoutService serves /checkout on a free port and returns its URL.
func startCheckoutService(backend string, fixed bool) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		status, err := checkInventory(r.Context(), backend, fixed)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, status)
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = http.Serve(lis, mux) }()
	return "http://" + lis.Addr().String() + "/checkout"
}

// checkInventory is the bug: a new client connection per request, closed
// only when fixed is set.
func checkInventory(ctx context.Context, backend string, fixed bool) (string, error) {
	conn, err := grpc.NewClient(backend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	if fixed {
		defer conn.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetStatus().String(), nil
}

// runLoad calls url rps times a second until duration has passed.
func runLoad(url string, rps int, duration time.Duration) int {
	ticker := time.NewTicker(time.Second / time.Duration(rps))
	defer ticker.Stop()
	deadline := time.Now().Add(duration)
	served := 0
	for time.Now().Before(deadline) {
		<-ticker.C
		resp, err := http.Get(url)
		if err != nil {
			log.Fatalf("load: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			log.Fatalf("load: %s", resp.Status)
		}
		served++
	}
	return served
}
